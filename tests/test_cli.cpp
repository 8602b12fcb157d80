// The binary as a user runs it: exit codes and the one-line error + hint on bad input.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

struct Run {
  int status;
  std::string output;  // stdout and stderr together
};

Run run(const std::string& args) {
  std::string cmd = std::string(MOSAIC_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  int status = pclose(pipe);
  return {WEXITSTATUS(status), out};
}

const std::string kFixture = std::string(MOSAIC_SHARED_DIR) + "/reference/mosaic_1.safetensors";

TEST(Cli, CheckPassesOnAFixture) {
  if (!std::filesystem::exists(kFixture)) GTEST_SKIP() << "fixture missing";
  auto r = run("check " + kFixture);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("\nPASS\n"), std::string::npos) << r.output;
}

TEST(Cli, InfoShowsConfigAndParameterCount) {
  if (!std::filesystem::exists(kFixture)) GTEST_SKIP() << "fixture missing";
  auto r = run("info " + kFixture);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("model     mosaic"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("param.mosaic.h.0.mlp.P_k"), std::string::npos) << r.output;
}

TEST(Cli, CorruptFileGivesOneErrorLineWithHint) {
  const std::string path = ::testing::TempDir() + "/corrupt.safetensors";
  std::ofstream(path) << "this is not a safetensors file at all";
  auto r = run("check " + path);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("\nhint: "), std::string::npos) << r.output;
}

TEST(Cli, MissingFileAndUnknownCommandFail) {
  EXPECT_NE(run("info /nonexistent/file.safetensors").status, 0);
  EXPECT_NE(run("no-such-command").status, 0);
}

}  // namespace
