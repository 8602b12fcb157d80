// `mosaic eval` (eval/lm_eval.hpp): the windows' loss against an independent float64
// log-softmax of the model's logits, the per-position curve against the mean, text against the
// same tokens as a shard, contexts past a Memory Mosaic's block_size, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "eval/lm_eval.hpp"
#include "io/model_io.hpp"
#include "io/token_shards.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "tiny_model.hpp"
#include "tokenizer_fixture.hpp"

namespace mosaic {
namespace {

std::unique_ptr<LanguageModel<float>> tiny_model(const std::string& arch, int vocab, int block) {
  return testing::tiny_model(testing::tiny_config(arch, {.vocab_size = vocab, .block_size = block}));
}

std::vector<uint16_t> random_ids(int n, int vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint16_t> t(n);
  for (auto& v : t) v = static_cast<uint16_t>(rng.below(vocab));
  return t;
}

// Each window's loss from the logits pass, in float64: the mean of -log softmax(target).
double exact_mean_loss(LanguageModel<float>& m, const std::vector<uint16_t>& tokens, int T, int64_t windows) {
  const int V = m.config().vocab_size;
  double total = 0;
  for (int64_t w = 0; w < windows; ++w) {
    std::vector<int32_t> idx(tokens.begin() + w * T, tokens.begin() + w * T + T);
    m.forward(idx.data(), nullptr, 1, T);
    for (int t = 0; t < T; ++t) {
      const float* z = m.logits() + static_cast<int64_t>(t) * V;
      double mx = z[0], sum = 0;
      for (int v = 1; v < V; ++v) mx = std::max(mx, double(z[v]));
      for (int v = 0; v < V; ++v) sum += std::exp(double(z[v]) - mx);
      total += mx + std::log(sum) - z[tokens[w * T + t + 1]];
    }
  }
  return total / static_cast<double>(windows * T);
}

TEST(Eval, WindowLossesMatchTheLogitsAndThePositionsAverageToTheMean) {
  for (const std::string arch : {"mosaic", "gpt"}) {
    auto model = tiny_model(arch, 61, 24);
    const auto tokens = random_ids(24 * 7 + 5, 61, 1);
    EvalOptions o;
    o.batch = 3;  // 7 windows: batches of 3, 3, 1
    const EvalResult r = evaluate_tokens(*model, tokens, o, [](int) { return 2.0; });
    EXPECT_EQ(r.windows, 7);
    EXPECT_EQ(r.tokens_scored, 7 * 24);
    EXPECT_EQ(r.tokens_left_out, 4);
    EXPECT_NEAR(r.mean_loss, exact_mean_loss(*model, tokens, 24, 7), 1e-5) << arch;
    double mean_of_positions = 0;
    for (double l : r.position_loss) mean_of_positions += l / r.position_loss.size();
    EXPECT_NEAR(mean_of_positions, r.mean_loss, 1e-12) << arch;
    EXPECT_NEAR(r.perplexity, std::exp(r.mean_loss), 1e-9 * r.perplexity);
    EXPECT_NEAR(r.bits_per_byte, r.mean_loss / std::log(2.0) / 2.0, 1e-12);
    for (double e : r.position_stderr) EXPECT_GT(e, 0.0);
    // The standard error of position 0 from its own windows' losses.
    o.max_windows = 2;
    const EvalResult two = evaluate_tokens(*model, tokens, o, [](int) { return 1.0; });
    EXPECT_EQ(two.windows, 2);
    model->evaluate(std::vector<int32_t>(tokens.begin(), tokens.begin() + 24).data(),
                    std::vector<int32_t>(tokens.begin() + 1, tokens.begin() + 25).data(), 1, 24);
    const double a = model->token_losses()[0];
    model->evaluate(std::vector<int32_t>(tokens.begin() + 24, tokens.begin() + 48).data(),
                    std::vector<int32_t>(tokens.begin() + 25, tokens.begin() + 49).data(), 1, 24);
    const double b = model->token_losses()[0];
    EXPECT_NEAR(two.position_stderr[0], std::abs(a - b) / 2, 1e-6) << "sd / sqrt(2) of two values is |a - b| / 2";
  }
}

// A Memory Mosaic evaluates past its block_size (no positions) on a copy with a longer
// block_size, and so do GPTs with relative positions; a GPT with learned positions cannot,
// and says so.
TEST(Eval, LongerContextsForTheMosaicOnly) {
  const auto tokens = random_ids(200, 61, 2);
  EvalOptions o;
  o.context = 64;  // block_size 24
  auto mosaic = tiny_model("mosaic", 61, 24);
  const EvalResult r = evaluate_tokens(*mosaic, tokens, o, [](int) { return 1.0; });
  EXPECT_EQ(r.context, 64);
  EXPECT_EQ(r.windows, 3);
  auto longer = with_block_size(*mosaic, 64);
  EXPECT_NEAR(r.mean_loss, exact_mean_loss(*longer, tokens, 64, 3), 1e-5);
  auto gpt = tiny_model("gpt", 61, 24);
  try {
    evaluate_tokens(*gpt, tokens, o, [](int) { return 1.0; });
    ADD_FAILURE() << "a GPT evaluated past its block_size";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("longer than the GPT's block_size 24"), std::string::npos) << e.what();
  }
  for (const std::string pos : {"rope", "alibi"}) {
    ModelConfig c = gpt->config();
    c.pos_encoding = pos;
    auto relative = make_model<float>(c);
    Rng rng(4);
    init_parameters(relative->params(), c, rng);
    const EvalResult rr = evaluate_tokens(*relative, tokens, o, [](int) { return 1.0; });
    EXPECT_EQ(rr.windows, 3) << pos;
    EXPECT_NEAR(rr.mean_loss, exact_mean_loss(*with_block_size(*relative, 64), tokens, 64, 3), 1e-5) << pos;
  }
}

// --documents: one window per document from its <|endoftext|>; a short document scores its own
// tokens and its end marker only, so the positions past it count fewer windows; the sum over
// positions still gives the total.
TEST(Eval, OneWindowPerDocument) {
  auto model = tiny_model("mosaic", 61, 16);
  const int eot = 60;
  std::vector<uint16_t> tokens;
  for (int len : {30, 5, 16, 0, 9}) {  // document lengths after their marker
    tokens.push_back(eot);
    const auto doc = random_ids(len, 60, len + 1);
    tokens.insert(tokens.end(), doc.begin(), doc.end());
  }
  EvalOptions o;
  o.documents = true;
  o.document_start = eot;
  o.batch = 2;
  const EvalResult r = evaluate_tokens(*model, tokens, o, [](int) { return 1.0; });
  EXPECT_EQ(r.windows, 5);
  // scored: 16 (first 16 of 31), 6 (5 + the next marker), 16 (16 + marker: capped), 1, 9 (stream end)
  EXPECT_EQ(r.tokens_scored, 16 + 6 + 16 + 1 + 9);
  EXPECT_EQ(r.position_count[0], 5);
  EXPECT_EQ(r.position_count[5], 4);
  EXPECT_EQ(r.position_count[6], 3);
  EXPECT_EQ(r.position_count[15], 2);
  double total = 0;
  for (int t = 0; t < 16; ++t) total += r.position_loss[t] * r.position_count[t];
  EXPECT_NEAR(total / r.tokens_scored, r.mean_loss, 1e-9);
  // Document 2 (5 tokens + the next marker) alone, by the plain evaluate pass.
  std::vector<int32_t> idx(tokens.begin() + 31, tokens.begin() + 37), tgt(tokens.begin() + 32, tokens.begin() + 38);
  model->evaluate(idx.data(), tgt.data(), 1, 6);
  double doc2 = 0;
  for (int t = 0; t < 6; ++t) doc2 += model->token_losses()[t];
  o.max_windows = 2;
  const EvalResult two = evaluate_tokens(*model, tokens, o, [](int) { return 1.0; });
  std::vector<int32_t> idx1(tokens.begin(), tokens.begin() + 16), tgt1(tokens.begin() + 1, tokens.begin() + 17);
  model->evaluate(idx1.data(), tgt1.data(), 1, 16);
  double doc1 = 0;
  for (int t = 0; t < 16; ++t) doc1 += model->token_losses()[t];
  EXPECT_NEAR(two.mean_loss, (doc1 + doc2) / 22, 1e-5) << "a short document's padding must not change its losses";
}

// ---- the command, as a user runs it ----

testing::CommandResult run_eval(const std::string& args) {
  return testing::run_command("timeout 120 " + std::string(MOSAIC_BINARY) + " eval " + args + " </dev/null");
}

TEST(EvalCli, TextAndTheSameTokensAsAShardAgree) {
  REQUIRE_TOKENIZER();
  const testing::TempDir dir("eval_cli");
  const std::string model = dir.file("model.safetensors");
  save_model(model, *tiny_model("mosaic", 50304, 32));
  const std::string text = dir.file("stories.txt");
  {
    std::ofstream out(text);
    for (int i = 0; i < 12; ++i)
      out << "Once upon a time, a little fox named Pip found a red ball " << i << " in the park.\n<|endoftext|>\n";
  }
  const std::string shard = dir.file("stories.bin");
  write_token_shard(shard, read_eval_tokens(text, tok));
  const std::string csv = dir.file("positions.csv");
  auto from_text = run_eval("-m " + model + " " + text + " -t 1 --per-position " + csv);
  auto from_shard = run_eval("-m " + model + " " + shard + " -t 1");
  ASSERT_EQ(from_text.status, 0) << from_text.output;
  ASSERT_EQ(from_shard.status, 0) << from_shard.output;
  const auto loss_line = [](const std::string& out) { return out.substr(out.find("loss:"), out.find(" (", out.find("loss:")) - out.find("loss:")); };
  EXPECT_EQ(loss_line(from_text.output), loss_line(from_shard.output));
  EXPECT_NE(from_text.output.find("bits per byte"), std::string::npos) << from_text.output;
  std::ifstream in(csv);
  std::string header, line;
  std::getline(in, header);
  EXPECT_EQ(header, "position,mean_loss,stderr,windows");
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 32);
}

// Progress into a file (a captured log) comes as whole lines, one per update with
// MOSAIC_PROGRESS_SECONDS=0, never a '\r'.
TEST(EvalCli, ProgressIntoAFileIsPlainLines) {
  REQUIRE_TOKENIZER();
  const testing::TempDir dir("eval_cli");
  const std::string model = dir.file("model.safetensors"), shard = dir.file("ids.bin"), err = dir.file("stderr.txt");
  save_model(model, *tiny_model("mosaic", 50304, 16));
  write_token_shard(shard, random_ids(16 * 20 + 1, 50304, 5));
  const auto r = testing::run_command("MOSAIC_PROGRESS_SECONDS=0 timeout 120 " + std::string(MOSAIC_BINARY) + " eval -m " +
                                          model + " " + shard + " -t 1 --batch 2 2>" + err + " </dev/null",
                                      false);
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(err);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  std::istringstream lines(text);
  std::string line;
  int shown = 0;
  while (std::getline(lines, line)) {
    EXPECT_EQ(line.rfind("eval: ", 0), 0u) << line;
    ++shown;
  }
  EXPECT_EQ(shown, 10) << text;  // 20 windows, 2 a batch
  EXPECT_NE(text.find("eval: 20/20 windows, "), std::string::npos) << text;
}

TEST(EvalCli, BadInputGivesAnErrorWithAHint) {
  REQUIRE_TOKENIZER();
  const testing::TempDir dir("eval_cli");
  const std::string small_vocab = dir.file("small.safetensors"), gpt = dir.file("gpt.safetensors");
  save_model(small_vocab, *tiny_model("mosaic", 61, 16));
  save_model(gpt, *tiny_model("gpt", 50304, 16));
  const std::string empty = dir.file("empty.txt"), text = dir.file("text.txt");
  std::ofstream(empty) << "";
  {
    std::ofstream out(text);
    for (int i = 0; i < 20; ++i) out << "The cat sat on the mat and looked at the moon.\n<|endoftext|>\n";
  }
  struct Case {
    std::string args, what;
  };
  for (const Case& c : {Case{"-m " + gpt + " " + empty, "fewer than one window"},
                        Case{"-m " + small_vocab + " " + text, "outside the model's vocabulary of 61"},
                        Case{"-m " + gpt + " " + text + " --context 64", "longer than the GPT's block_size 16"},
                        Case{"-m " + gpt + " " + dir.file("missing.txt"), "missing.txt"}}) {
    const auto r = run_eval(c.args + " -t 1");
    EXPECT_EQ(r.status, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("hint: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.what), std::string::npos) << c.args << "\n" << r.output;
  }
}

}  // namespace
}  // namespace mosaic
