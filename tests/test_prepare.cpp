// Tests of corpus preparation (train/prepare, `mosaic prepare`): .txt/.json/.jsonl documents, EOT before
// each, the val split, meta.json, same files for 1 and 2 threads, ids that decode back, errors with hints.
// Not a tokenizer test (test_tokenizer.cpp); skips without scripts/setup_tokenizer.sh's files.
#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/token_shards.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "text/gpt2_tokenizer.hpp"
#include "text/prepare.hpp"
#include "tokenizer_fixture.hpp"

namespace fs = std::filesystem;
using mosaic::Gpt2Tokenizer;
using mosaic::PrepareOptions;
using nlohmann::json;

namespace {

using mosaic::testing::TempDir;

std::string write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Ten small stories with paragraphs, quotes, unicode and a literal "<|endoftext|>" inside a line.
std::vector<std::string> sample_documents() {
  std::vector<std::string> docs;
  for (int i = 0; i < 10; ++i) {
    docs.push_back("Story " + std::to_string(i) + ": Once upon a time, Lily found a \"shiny\" stone.\n" +
                   "She said, \"Wow!\" and smiled \xe2\x80\x94 caf\xc3\xa9 " + std::string(i, '!') +
                   (i == 3 ? " mid-line <|endoftext|> stays text." : "") + "\nThe end.");
  }
  return docs;
}

// TinyStories' layout: each story, a newline, then a line "<|endoftext|>".
std::string as_tinystories_text(const std::vector<std::string>& docs) {
  std::string s;
  for (const auto& d : docs) s += d + "\n<|endoftext|>\n";
  return s;
}

// What each split must hold: EOT, then the document's ids, for every document in order.
std::vector<uint16_t> expected_tokens(const Gpt2Tokenizer& tok, const std::vector<std::string>& docs) {
  std::vector<uint16_t> out;
  for (const auto& d : docs) {
    out.push_back(static_cast<uint16_t>(tok.eot()));
    for (int id : tok.encode_ordinary(d)) out.push_back(static_cast<uint16_t>(id));
  }
  return out;
}

// Splits a shard at its EOTs and decodes each document.
std::vector<std::string> decode_documents(const Gpt2Tokenizer& tok, const std::vector<uint16_t>& tokens) {
  std::vector<std::string> docs;
  std::vector<int> cur;
  EXPECT_TRUE(tokens.empty() || tokens[0] == tok.eot()) << "a shard must start with EOT";
  for (size_t i = 0; i <= tokens.size(); ++i) {
    if (i == tokens.size() || tokens[i] == tok.eot()) {
      if (i > 0) docs.push_back(tok.decode(cur));
      cur.clear();
    } else {
      cur.push_back(tokens[i]);
    }
  }
  return docs;
}

PrepareOptions quiet_options(const std::vector<std::string>& inputs, const std::string& out_dir) {
  PrepareOptions o;
  o.inputs = inputs;
  o.out_dir = out_dir;
  o.progress = false;
  return o;
}

std::string error_of(const PrepareOptions& o) {
  try {
    mosaic::prepare_corpus(o);
  } catch (const mosaic::Error& e) {
    EXPECT_FALSE(e.hint.empty()) << "no hint for: " << e.what();
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Prepare, StripAndFormats) {
  EXPECT_EQ(mosaic::strip_document("\n  Once upon a time.\nThe end.\n\r\n"), "Once upon a time.\nThe end.");
  EXPECT_EQ(mosaic::strip_document(" \t\n"), "");
  EXPECT_EQ(mosaic::input_format_of("a/b.txt"), mosaic::InputFormat::kText);
  EXPECT_EQ(mosaic::input_format_of("TinyStories-train"), mosaic::InputFormat::kText);
  EXPECT_EQ(mosaic::input_format_of("x.JSON"), mosaic::InputFormat::kJsonArray);
  EXPECT_EQ(mosaic::input_format_of("x.jsonl"), mosaic::InputFormat::kJsonLines);
  EXPECT_THROW(mosaic::input_format_of("x.txt.gz"), mosaic::Error);
}

TEST(Prepare, TextDocumentsSplitAtSeparatorLinesOnly) {
  TempDir dir;
  const std::string path = write_text(dir.file("t.txt"),
                                      "First story.\nSecond paragraph.\n<|endoftext|>\n"
                                      "\n<|endoftext|>\n"                       // empty: skipped
                                      "  Crlf story.\r\n<|endoftext|>\r\n"      // CRLF separator line
                                      "Not a separator: <|endoftext|> \n"       // trailing space
                                      " <|endoftext|>\nstill the same story\n"  // leading space
                                      "<|endoftext|>\n"
                                      "Last story without a separator");
  mosaic::DocumentReader reader(path);
  std::vector<std::string> docs;
  std::string doc;
  while (reader.next(doc)) docs.push_back(doc);
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[0], "First story.\nSecond paragraph.");
  EXPECT_EQ(docs[1], "Crlf story.");
  EXPECT_EQ(docs[2], "Not a separator: <|endoftext|> \n <|endoftext|>\nstill the same story");
  EXPECT_EQ(docs[3], "Last story without a separator");
  EXPECT_EQ(reader.empty_skipped(), 1u);
  EXPECT_EQ(reader.bytes_read(), fs::file_size(path));
}

TEST(Prepare, JsonAndJsonlDocuments) {
  TempDir dir;
  write_text(dir.file("a.json"), R"([{"story": " One.\n"}, {"text": "Two", "story": "Story wins"}, {"text": "Three"}])");
  EXPECT_EQ(mosaic::read_documents(dir.file("a.json")), (std::vector<std::string>{"One.", "Story wins", "Three"}));
  write_text(dir.file("b.jsonl"), "{\"story\": \"One\"}\n\n{\"text\": \"Two\\n\"}\r\n{\"story\": \"  \"}\n");
  EXPECT_EQ(mosaic::read_documents(dir.file("b.jsonl")), (std::vector<std::string>{"One", "Two"}));

  struct Bad {
    std::string name, text, expect;
  };
  for (const Bad& b : std::vector<Bad>{
           {"c.jsonl", "{\"story\": \"a\"}\n{\"title\": \"b\"}\n", "c.jsonl:2: JSON object has neither"},
           {"d.jsonl", "{\"story\": \"a\"}\n\n{\"story\": \n", "d.jsonl:3: invalid JSON"},
           {"e.jsonl", "{\"story\": 5}\n", "e.jsonl:1: field \"story\" is a number"},
           {"f.json", "{\"story\": \"a\"}", "expected a JSON array"},
           {"g.json", "[{\"story\": \"a\"}, {\"body\": \"b\"}]", "g.json: element 1: JSON object has neither"},
           {"h.json", "[{\"story\": \"a\"},\n\n {\"story\": ]", "h.json:3: invalid JSON"},
       }) {
    write_text(dir.file(b.name), b.text);
    try {
      mosaic::read_documents(dir.file(b.name));
      ADD_FAILURE() << b.name << ": no throw";
    } catch (const mosaic::Error& e) {
      EXPECT_NE(std::string(e.what()).find(b.expect), std::string::npos) << b.name << ": " << e.what();
      EXPECT_FALSE(e.hint.empty());
    }
  }
}

TEST(Prepare, HeldOutRuleAndUnigramEntropy) {
  std::vector<size_t> held;
  for (size_t i = 0; i < 100; ++i) {
    if (mosaic::is_held_out(i, 0.05)) held.push_back(i);
  }
  EXPECT_EQ(held, (std::vector<size_t>{19, 39, 59, 79, 99}));
  EXPECT_DOUBLE_EQ(mosaic::unigram_entropy_nats(std::vector<uint16_t>{7, 7, 7}), 0.0);
  EXPECT_NEAR(mosaic::unigram_entropy_nats(std::vector<uint16_t>{1, 2, 1, 2}), std::log(2.0), 1e-12);
  EXPECT_NEAR(mosaic::unigram_entropy_nats(std::vector<uint16_t>{0, 1, 2, 65535}), std::log(4.0), 1e-12);
  EXPECT_EQ(mosaic::unigram_entropy_nats({}), 0.0);
}

// The same ten documents as .txt, .json and .jsonl give the same shards, with the --val-frac
// rule holding out documents 4 and 9 (frac 0.2), EOT in front of each document.
TEST(Prepare, EveryInputFormatGivesTheSameShards) {
  REQUIRE_TOKENIZER();
  TempDir dir;
  const auto docs = sample_documents();
  json array = json::array();
  std::string lines;
  for (size_t i = 0; i < docs.size(); ++i) {
    const json obj = {{i % 2 ? "story" : "text", docs[i] + "\n"}};
    array.push_back(obj);
    lines += obj.dump() + "\n";
  }
  const std::vector<std::string> inputs = {write_text(dir.file("s.txt"), as_tinystories_text(docs)),
                                           write_text(dir.file("s.json"), array.dump(1)),
                                           write_text(dir.file("s.jsonl"), lines)};
  const std::vector<std::string> train_docs = {docs[0], docs[1], docs[2], docs[3], docs[5], docs[6], docs[7], docs[8]};
  const std::vector<std::string> val_docs = {docs[4], docs[9]};
  const auto want_train = expected_tokens(tok, train_docs), want_val = expected_tokens(tok, val_docs);

  for (const auto& input : inputs) {
    SCOPED_TRACE(input);
    auto o = quiet_options({input}, dir.file("out_" + fs::path(input).extension().string().substr(1)));
    o.val_frac = 0.2;
    const auto s = mosaic::prepare_corpus(o);
    const auto train = mosaic::read_token_shard(s.train_paths.at(0)), val = mosaic::read_token_shard(s.val_paths.at(0));
    EXPECT_EQ(train, want_train);
    EXPECT_EQ(val, want_val);
    EXPECT_EQ(decode_documents(tok, train), train_docs);
    EXPECT_EQ(decode_documents(tok, val), val_docs);
    EXPECT_EQ(std::count(train.begin(), train.end(), tok.eot()), 8);  // the mid-line literal is text
    EXPECT_EQ(s.train_documents, 8u);
    EXPECT_EQ(s.val_documents, 2u);
    EXPECT_EQ(s.input_bytes, fs::file_size(input));

    const json meta = json::parse(read_text(s.meta_path));
    EXPECT_EQ(meta["tokenizer"], "gpt2");
    EXPECT_EQ(meta["vocab_size"], 50257);
    EXPECT_EQ(meta["eot"], 50256);
    EXPECT_EQ(meta["train_tokens"], want_train.size());
    EXPECT_EQ(meta["val_tokens"], want_val.size());
    EXPECT_EQ(meta["train_documents"], 8);
    EXPECT_EQ(meta["val_documents"], 2);
    EXPECT_DOUBLE_EQ(meta["unigram_entropy_nats"].get<double>(), mosaic::unigram_entropy_nats(want_train));
    EXPECT_EQ(meta["val_frac"], 0.2);
    ASSERT_EQ(meta["sources"].size(), 1u);
    EXPECT_EQ(meta["sources"][0]["path"], input);
    EXPECT_EQ(meta["sources"][0]["documents"], 10);
  }
}

TEST(Prepare, ValidationFileAndSmallCorpusFallback) {
  REQUIRE_TOKENIZER();
  TempDir dir;
  const auto docs = sample_documents();
  const std::string a = write_text(dir.file("a.txt"), as_tinystories_text({docs[0], docs[1]}));
  const std::string b = write_text(dir.file("b.jsonl"), "{\"story\": \"" + std::string("Third.") + "\"}\n");
  const std::string v = write_text(dir.file("v.txt"), as_tinystories_text({docs[5], docs[6]}));

  // --val FILE: every input document trains, the file validates.
  auto o = quiet_options({a, b}, dir.file("with_val"));
  o.val_inputs = {v};
  auto s = mosaic::prepare_corpus(o);
  EXPECT_EQ(mosaic::read_token_shard(s.train_paths.at(0)), expected_tokens(tok, {docs[0], docs[1], "Third."}));
  EXPECT_EQ(mosaic::read_token_shard(s.val_paths.at(0)), expected_tokens(tok, {docs[5], docs[6]}));
  json meta = json::parse(read_text(s.meta_path));
  EXPECT_EQ(meta["val_split"], "files");
  EXPECT_EQ(meta["sources"].size(), 3u);
  EXPECT_EQ(meta["sources"][2]["split"], "val");

  // 3 documents * 0.05 < 1: the rule holds out none, so the last document validates.
  s = mosaic::prepare_corpus(quiet_options({a, b}, dir.file("fallback")));
  EXPECT_EQ(mosaic::read_token_shard(s.train_paths.at(0)), expected_tokens(tok, {docs[0], docs[1]}));
  EXPECT_EQ(mosaic::read_token_shard(s.val_paths.at(0)), expected_tokens(tok, {"Third."}));
  meta = json::parse(read_text(s.meta_path));
  EXPECT_EQ(meta["sources"][1]["val_documents"], 1);
}

// --shard-size: llm.c-style numbered shards whose concatenation is the one-file split; a
// later run into the same folder replaces them rather than leaving stale shards.
TEST(Prepare, ShardSizeWritesNumberedShards) {
  REQUIRE_TOKENIZER();
  TempDir dir;
  std::vector<std::string> docs;
  for (int i = 0; i < 60; ++i) docs.push_back("Story " + std::to_string(i) + ". " + sample_documents()[i % 5]);
  const std::string in = write_text(dir.file("in.txt"), as_tinystories_text(docs));
  auto whole = mosaic::prepare_corpus(quiet_options({in}, dir.file("one")));
  auto o = quiet_options({in}, dir.file("many"));
  o.shard_tokens = 1024;
  auto sharded = mosaic::prepare_corpus(o);
  ASSERT_GT(sharded.train_paths.size(), 1u);
  std::vector<uint16_t> joined;
  for (const auto& p : sharded.train_paths) {
    EXPECT_NE(p.find("mosaic_train_"), std::string::npos) << p;
    const auto t = mosaic::read_token_shard(p);
    EXPECT_LE(t.size(), 1024u);
    joined.insert(joined.end(), t.begin(), t.end());
  }
  EXPECT_EQ(joined, mosaic::read_token_shard(whole.train_paths.at(0)));
  EXPECT_EQ(mosaic::split_shard_paths(dir.file("many"), "train"), sharded.train_paths);
  o.shard_tokens = 0;  // the same folder, one file per split: the numbered shards go
  auto again = mosaic::prepare_corpus(o);
  EXPECT_EQ(mosaic::split_shard_paths(dir.file("many"), "train"), again.train_paths);
  EXPECT_EQ(mosaic::split_shard_paths(dir.file("many"), "val"), again.val_paths);
  o.shard_tokens = 5;
  EXPECT_THROW(mosaic::prepare_corpus(o), mosaic::Error);
}

TEST(Prepare, ErrorsHaveHints) {
  REQUIRE_TOKENIZER();
  TempDir dir;
  const std::string one = write_text(dir.file("one.txt"), "Only one story.\n<|endoftext|>\n\n<|endoftext|>\n");
  const std::string blank = write_text(dir.file("blank.txt"), "\n<|endoftext|>\n  \n");
  const std::string two = write_text(dir.file("two.txt"), "A.\n<|endoftext|>\nB.\n");

  EXPECT_NE(error_of(quiet_options({one}, dir.file("o1"))).find("only 1 document"), std::string::npos);
  EXPECT_NE(error_of(quiet_options({blank}, dir.file("o2"))).find("no training documents"), std::string::npos);
  EXPECT_NE(error_of(quiet_options({dir.file("missing.txt")}, dir.file("o3"))).find("missing.txt"), std::string::npos);
  EXPECT_NE(error_of(quiet_options({}, dir.file("o4"))).find("at least one input"), std::string::npos);
  auto o = quiet_options({two}, dir.file("o5"));
  o.val_inputs = {blank};
  EXPECT_NE(error_of(o).find("no validation documents"), std::string::npos);
  o.val_inputs = {two};
  EXPECT_NE(error_of(o).find("both a training input and a validation input"), std::string::npos);
  o = quiet_options({two}, dir.file("o6"));
  o.val_frac = 1.0;
  EXPECT_NE(error_of(o).find("--val-frac must be in (0, 1)"), std::string::npos);
  o = quiet_options({two}, write_text(dir.file("a_file"), "x"));
  EXPECT_NE(error_of(o).find("cannot create output directory"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.file("o1/train.bin"))) << "nothing is written on failure";
}

// OpenMP splits the documents differently with 1 and 2 threads; the files must not change.
TEST(Prepare, SameFilesForOneAndTwoThreads) {
  REQUIRE_TOKENIZER();
  TempDir dir;
  std::string corpus = as_tinystories_text(sample_documents());
  const std::string shared_valid = std::string(MOSAIC_SHARED_DIR) + "/data/tinystories/valid.txt";
  if (fs::exists(shared_valid)) corpus += read_text(shared_valid);  // 197 real stories when present
  const std::string input = write_text(dir.file("c.txt"), corpus);

  const int saved = omp_get_max_threads();
  std::vector<std::string> files[2];
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    const auto s = mosaic::prepare_corpus(quiet_options({input}, dir.file("t" + std::to_string(threads))));
    files[threads - 1] = {read_text(s.train_paths.at(0)), read_text(s.val_paths.at(0)), read_text(s.meta_path)};
  }
  omp_set_num_threads(saved);
  EXPECT_TRUE(files[0][0] == files[1][0]) << "train.bin differs";
  EXPECT_TRUE(files[0][1] == files[1][1]) << "val.bin differs";
  EXPECT_TRUE(files[0][2] == files[1][2]) << "meta.json differs";
}

#ifdef MOSAIC_BINARY
namespace {
// stdout and stderr together
mosaic::testing::CommandResult run_mosaic(const std::string& args) {
  return mosaic::testing::run_command(std::string(MOSAIC_BINARY) + " " + args);
}
}  // namespace

TEST(Prepare, CommandLine) {
  REQUIRE_TOKENIZER();
  TempDir dir;
  const auto docs = sample_documents();
  const std::string train = write_text(dir.file("train.txt"), as_tinystories_text(docs));
  const std::string val = write_text(dir.file("val.jsonl"), "{\"story\": \"The end.\"}\n");
  auto r = run_mosaic("prepare " + train + " --val " + val + " -o " + dir.file("out") + " -t 2");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("train 10 documents"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("unigram entropy of the training tokens"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir.file("out/meta.json")));

  r = run_mosaic("prepare " + dir.file("nope.txt") + " -o " + dir.file("out2"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("error: input " + dir.file("nope.txt")), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("hint: "), std::string::npos) << r.output;
}
#endif
