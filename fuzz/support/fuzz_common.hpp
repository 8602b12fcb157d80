// Helpers shared by the libFuzzer harnesses in fuzz/: a per-process scratch directory for the
// parsers that take paths, "a mosaic::Error is fine" wrapping, and an assert that is a finding.
// Not a test framework: anything other than mosaic::Error escaping a harness is reported by
// libFuzzer as a crash (uncaught exception -> abort), which is exactly what we want.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace mosaic::fuzz {

// A property the parser must keep; a violation is a finding, so abort (libFuzzer saves the input).
#define FUZZ_ASSERT(cond, msg)                                                               \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "FUZZ_ASSERT failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   std::string(msg).c_str());                                                \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

// One directory per process (libFuzzer -fork/-jobs run several), removed at exit.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    const char* base = std::getenv("TMPDIR");
    path_ = std::filesystem::path(base && *base ? base : "/tmp") /
            ("mosaic_fuzz_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Replaces the file's contents (plain stdio: the parsers read files, the harness only feeds them).
inline void write_file(const std::string& path, const void* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::perror(path.c_str());
    std::abort();  // the harness itself is broken, not the parser
  }
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}
inline void write_file(const std::string& path, std::string_view s) { write_file(path, s.data(), s.size()); }

inline void remove_file(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

// MOSAIC_FUZZ_VERBOSE=1 prints each Error a harness accepts (to see why a seed is refused).
inline bool verbose() {
  static const bool on = [] {
    const char* v = std::getenv("MOSAIC_FUZZ_VERBOSE");
    return v && *v && *v != '0';
  }();
  return on;
}

// Runs f; a mosaic::Error is an accepted outcome (returns false), anything else propagates.
template <class F>
bool ok_or_error(F&& f) {
  try {
    f();
    return true;
  } catch (const mosaic::Error& e) {
    if (verbose()) std::fprintf(stderr, "fuzz: Error: %s\n", e.what());
    return false;
  }
}

}  // namespace mosaic::fuzz
