// Atomic file replacement and whole-file reads over raw POSIX calls (open/write/fsync/rename),
// because std::ofstream can neither fsync nor report why a write failed.
// Not a general file API: see atomic_file.hpp.
#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <filesystem>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace mosaic {

namespace {

// A hint that matches the errno: the user's fix differs for a full disk and a bad path.
std::string hint_for_write_error(int err, const std::string& dir) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return "free disk space (or quota) on " + dir + " and retry";
    case EFBIG:
      return "the file exceeds the file size limit; check `ulimit -f` and free space on " + dir;
    case EACCES:
    case EPERM:
    case EROFS:
      return "check write permission on " + dir;
    case ENOENT:
    case ENOTDIR:
      return "directory " + dir + " does not exist; create it or choose another path";
    case EISDIR:
      return "the target is a directory; choose a file name";
    default:
      return "check free disk space and permissions on " + dir;
  }
}

}  // namespace

std::string directory_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

AtomicFileWriter::AtomicFileWriter(std::string path)
    : path_(std::move(path)), temp_path_(path_ + ".tmp." + std::to_string(::getpid())) {
  MOSAIC_CHECK(!path_.empty(), "cannot write a file with an empty path",
               "pass a file name");
  // O_TRUNC, not O_EXCL: a temp file left by a crashed process with the same pid is junk.
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    done_ = true;  // nothing was created, nothing to clean up
    throw Error("cannot create " + temp_path_ + " to write " + path_ + ": " +
                    std::strerror(err),
                hint_for_write_error(err, directory_of(path_)));
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!done_) discard();
}

void AtomicFileWriter::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
  done_ = true;
}

void AtomicFileWriter::fail(const std::string& action, int err) {
  discard();
  throw Error("cannot write " + path_ + " (" + action + " " + temp_path_ +
                  "): " + std::strerror(err),
              hint_for_write_error(err, directory_of(path_)) + "; " + path_ +
                  " was left unchanged");
}

void AtomicFileWriter::write(std::span<const std::byte> bytes) {
  MOSAIC_CHECK(!done_, "write to " + path_ + " after commit or failure",
               "create a new AtomicFileWriter");
  const std::byte* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    // write() may be partial or interrupted; loop until all bytes are out or it fails.
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write to", errno);
    }
    if (n == 0) fail("write to", EIO);
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void AtomicFileWriter::commit() {
  MOSAIC_CHECK(!done_, "commit of " + path_ + " after commit or failure",
               "create a new AtomicFileWriter");
  // Data must be on disk before the rename publishes it, or a crash could leave an empty
  // file under the final name.
  if (::fsync(fd_) != 0) fail("fsync of", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close of", errno);  // NFS reports write errors here
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail("rename of", errno);
  done_ = true;

  // The rename lives in the directory; sync it so the new name survives a crash. Some
  // file systems cannot fsync a directory (EINVAL); the rename has happened, so accept that.
  const std::string dir = directory_of(path_);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    const int err = errno;
    throw Error("wrote " + path_ + " but cannot open its directory " + dir + " to sync it: " +
                    std::strerror(err),
                "the new file is in place but may not survive a crash; check " + dir);
  }
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  if (rc != 0 && err != EINVAL && err != ENOTSUP) {
    throw Error("wrote " + path_ + " but fsync of directory " + dir + " failed: " +
                    std::strerror(err),
                "the new file is in place but may not survive a crash; check the disk holding " +
                    dir);
  }
}

void write_file_atomically(const std::string& path, std::span<const std::byte> bytes) {
  AtomicFileWriter out(path);
  out.write(bytes);
  out.commit();
}

std::vector<std::byte> read_file_bytes(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the kind is checked below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    throw Error("cannot open " + path + ": " + std::strerror(err),
                err == ENOENT ? "check the path; the file does not exist"
                              : "check read permission on " + path);
  }
  // Closes fd on every exit path, including throws below.
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    throw Error("cannot stat " + path + ": " + std::strerror(err), "check the file " + path);
  }
  MOSAIC_CHECK(!S_ISDIR(st.st_mode), "cannot read " + path + ": it is a directory",
               "pass a file, not a directory");
  MOSAIC_CHECK(S_ISREG(st.st_mode), "cannot read " + path + ": not a regular file (a FIFO, socket or device)",
               "pass a regular file");
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);

  // st_size is a first guess only: pipes report 0 and a file may grow while we read. Fill
  // the guessed size, then keep reading in chunks until read() returns 0 (end of file).
  std::vector<std::byte> bytes(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) : 0);
  std::byte chunk[65536];
  size_t used = 0;
  for (;;) {
    const bool in_place = used < bytes.size();
    std::byte* dst = in_place ? bytes.data() + used : chunk;
    const size_t room = in_place ? bytes.size() - used : sizeof(chunk);
    const ssize_t n = ::read(fd, dst, room);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      throw Error("cannot read " + path + ": " + std::strerror(err),
                  "check the file and the disk it is on");
    }
    if (n == 0) break;
    if (!in_place) bytes.insert(bytes.end(), chunk, chunk + n);
    used += static_cast<size_t>(n);
  }
  bytes.resize(used);
  return bytes;
}

uint64_t remove_stale_temp_files(const std::string& dir) {
  namespace fs = std::filesystem;
  uint64_t freed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos || !entry.is_regular_file(ec)) continue;
    const std::string pid_text = name.substr(at + 5);
    if (pid_text.empty() || pid_text.size() > 9 || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // its writer may still run
    const uint64_t size = entry.file_size(ec);
    if (fs::remove(entry.path(), ec)) freed += size;
  }
  return freed;
}

}  // namespace mosaic
