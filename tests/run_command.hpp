// Test helper: runs a shell command line and captures its stdout and stderr together (or
// stdout alone) with its exit status, for the tests that drive the binary as a user does.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace mosaic::testing {

struct CommandResult {
  int status;
  std::string output;
};

inline CommandResult run_command(const std::string& command, bool with_stderr = true) {
  const std::string cmd = "(" + command + ")" + (with_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = pclose(pipe);
  return {WEXITSTATUS(status), out};
}

}  // namespace mosaic::testing
