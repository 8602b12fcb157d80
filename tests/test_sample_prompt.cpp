// `mosaic sample`'s prompt as a user gives it: the size limit on -p, -f and stdin with its error
// and hint, inputs without end refused at once, and a long prompt's progress lines and
// --mem-limit hint on stderr.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "io/model_io.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "tiny_model.hpp"
#include "tokenizer_fixture.hpp"

namespace mosaic {
namespace {

using Result = testing::CommandResult;

// A hang would end in timeout's status 124, not stall the suite.
Result sample(const std::string& args, const std::string& input = "</dev/null") {
  return testing::run_command("timeout 20 " + std::string(MOSAIC_BINARY) + " sample " + args + " " + input);
}

void expect_error(const Result& r, const std::string& what) {
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("\nhint: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(what), std::string::npos) << r.output;
}

struct Model : testing::TempDir {
  std::string path = file("model.safetensors");
  Model() : TempDir("sample_prompt") {
    save_model(path, *testing::tiny_model(testing::tiny_config("mosaic", {.vocab_size = 50304, .block_size = 16})));
  }
};

TEST(SamplePrompt, InputsWithoutEndStopAtOnce) {
  REQUIRE_TOKENIZER();
  const Model m;
  expect_error(sample("-m " + m.path + " -n 2 -t 1", "</dev/zero"), "NUL byte");
  // Text that never ends: stopped at --max-prompt-bytes, not read to the end.
  const Result yes = testing::run_command("yes | timeout 20 " + std::string(MOSAIC_BINARY) + " sample -m " + m.path + " -n 2 -t 1");
  expect_error(yes, "longer than --max-prompt-bytes 1048576");
}

TEST(SamplePrompt, OverTheLimitIsRefusedAndAtTheLimitIsRead) {
  REQUIRE_TOKENIZER();
  const Model m;
  std::string text;
  while (text.size() < 1000) text += "The cat sat on the mat. ";
  text.resize(1000);
  const std::string prompt = m.file("prompt.txt");
  std::ofstream(prompt) << text;
  const std::string args = "-m " + m.path + " -n 2 -t 1 ";
  expect_error(sample(args + "-f " + prompt + " --max-prompt-bytes 999"), "(" + prompt + ") is longer than --max-prompt-bytes 999");
  expect_error(sample(args + "--max-prompt-bytes 999", "<" + prompt), "(stdin) is longer than --max-prompt-bytes 999");
  expect_error(sample(args + "-p \"" + text + "\" --max-prompt-bytes 999"), "(-p) is longer");
  const Result at_limit = sample(args + "-f " + prompt + " --max-prompt-bytes 1000");
  ASSERT_EQ(at_limit.status, 0) << at_limit.output;
  EXPECT_EQ(at_limit.output.rfind(text, 0), 0u) << "the prompt is echoed whole";
}

// Over kSlowMemoryPairs (4,096) tokens: the hint before the prompt goes in, then progress lines
// (one per chunk with MOSAIC_PROGRESS_SECONDS=0), whole lines in a file; none with --mem-limit.
TEST(SamplePrompt, ALongPromptShowsProgressAndTheMemLimitHint) {
  REQUIRE_TOKENIZER();
  const Model m;
  std::string text;
  for (int i = 0; i < 5000; ++i) text += " a";
  const std::string prompt = m.file("long.txt"), err = m.file("stderr.txt");
  std::ofstream(prompt) << text;
  auto run = [&](const std::string& flags) {
    return testing::run_command("MOSAIC_PROGRESS_SECONDS=0 timeout 20 " + std::string(MOSAIC_BINARY) + " sample -m " +
                                    m.path + " -f " + prompt + " -n 1 -t 1" + flags + " 2>" + err + " </dev/null",
                                false);
  };
  auto read_err = [&] {
    std::ifstream in(err);
    return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  };
  const Result unbounded = run("");
  ASSERT_EQ(unbounded.status, 0) << read_err();
  EXPECT_EQ(unbounded.output.rfind(text, 0), 0u);
  const std::string log = read_err();
  EXPECT_EQ(log.find('\r'), std::string::npos) << log;
  EXPECT_EQ(log.rfind("hint: past 4096 tokens", 0), 0u) << log;
  EXPECT_NE(log.find("--mem-limit"), std::string::npos) << log;
  EXPECT_NE(log.find("\nprompt: 256/5001 tokens, "), std::string::npos) << log;
  EXPECT_NE(log.find("\nprompt: 5001/5001 tokens, "), std::string::npos) << log;
  ASSERT_EQ(run(" --mem-limit 64").status, 0);
  EXPECT_EQ(read_err().find("hint:"), std::string::npos) << read_err();
}

}  // namespace
}  // namespace mosaic
