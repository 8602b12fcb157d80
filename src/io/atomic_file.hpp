// Whole-file I/O for checkpoints: atomic replacement (write PATH.tmp.<pid>, fsync, rename,
// fsync the directory) and reading a file into memory. Not a general file API: no locking,
// no appends, no memory mapping; POSIX only. Failures throw mosaic::Error naming the path.
#pragma once
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mosaic {

// Streams bytes into PATH.tmp.<pid> in PATH's directory; commit() makes them PATH in one
// rename. Destroyed without commit() (e.g. when an exception unwinds), it removes the temp
// file and PATH keeps its old contents. On a failed write() the temp file is removed at once.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(std::span<const std::byte> bytes);
  void commit();  // fsync, close, rename over path(), fsync the directory

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  [[noreturn]] void fail(const std::string& action, int err);
  void discard() noexcept;  // close and unlink the temp file, ignoring errors

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool done_ = false;  // committed, or failed and already cleaned up
};

// Replaces PATH with BYTES atomically: readers see the old file or the new one, never a mix.
void write_file_atomically(const std::string& path, std::span<const std::byte> bytes);
inline void write_file_atomically(const std::string& path, std::string_view text) {
  write_file_atomically(path, std::as_bytes(std::span(text.data(), text.size())));
}

// Reads the whole file. Throws Error("cannot open PATH: <strerror>", hint) and the like.
std::vector<std::byte> read_file_bytes(const std::string& path);

// The directory part of PATH ("." when it has none); used in hints.
std::string directory_of(const std::string& path);

// Removes the temp files (NAME.tmp.<pid>) that writers in `dir` left when their process was
// killed, i.e. whose pid no longer runs; returns how many bytes that freed.
uint64_t remove_stale_temp_files(const std::string& dir);

}  // namespace mosaic
