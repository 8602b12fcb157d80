// A fresh directory under the system temp folder for one test, removed with its contents at the end.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace mosaic::testing {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag = "mosaic") {
    static int serial = 0;
    path = std::filesystem::temp_directory_path() /
           (tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(serial++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace mosaic::testing
