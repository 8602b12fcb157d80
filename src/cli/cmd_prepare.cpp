// `mosaic prepare INPUT... -o OUTDIR`: text (.txt with <|endoftext|> lines, .json, .jsonl) -> GPT-2
// token shards OUTDIR/train.bin, val.bin and OUTDIR/meta.json. Parse, call prepare_corpus, print;
// the work and its rules live in text/prepare.hpp.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "text/gpt2_tokenizer.hpp"
#include "text/prepare.hpp"

namespace mosaic {

void add_prepare_command(CLI::App& app) {
  auto opts = std::make_shared<PrepareOptions>();
  auto quiet = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("prepare", "tokenise text into GPT-2 token shards: OUTDIR/train.bin, val.bin, meta.json");
  cmd->add_option("inputs", opts->inputs,
                  "training text: .txt with stories separated by <|endoftext|> lines (TinyStories), "
                  ".json (array of objects) or .jsonl (one object per line) with a \"story\" or \"text\" field")
      ->required();
  cmd->add_option("-o,--out", opts->out_dir, "output directory (created when missing)")->required();
  auto* val = cmd->add_option("--val", opts->val_inputs,
                              "validation text (repeatable); without it, --val-frac of the inputs' documents is held out")
                  ->allow_extra_args(false);
  cmd->add_option("--val-frac", opts->val_frac,
                  "fraction of documents held out for validation when there is no --val: evenly spaced, "
                  "document i when floor((i+1)*f) > floor(i*f)")
      ->capture_default_str()
      ->excludes(val);
  cmd->add_option("--tokenizer", opts->tokenizer_dir,
                  "directory with encoder.json and vocab.bpe (default: $MOSAIC_TOKENIZER_DIR, else the "
                  "installed or checkout copy)");
  cmd->add_option("-t,--threads", opts->threads, "tokeniser threads (0: OpenMP's default)")->capture_default_str();
  cmd->add_option("--shard-size", opts->shard_tokens,
                  "tokens per shard: write OUT/mosaic_train_000000.bin, ... (llm.c's naming) instead of one file per "
                  "split (0)");
  cmd->add_flag("-q,--quiet", *quiet, "no progress lines on stderr");
  cmd->callback([opts, quiet] {
    opts->progress = !*quiet;
    if (opts->tokenizer_dir.empty()) opts->tokenizer_dir = Gpt2Tokenizer::default_dir();
    const PrepareStats s = prepare_corpus(*opts);
    const double mb = static_cast<double>(s.input_bytes) / 1e6;
    std::printf("prepared %s: train %zu documents, %zu tokens; val %zu documents, %zu tokens",
                opts->out_dir.c_str(), s.train_documents, s.train_tokens, s.val_documents, s.val_tokens);
    if (s.empty_skipped > 0) std::printf("; %zu empty documents skipped", s.empty_skipped);
    std::printf("\nread %.1f MB in %.2f s (%.2f MB/s)\n", mb, s.seconds, mb / (s.seconds > 0 ? s.seconds : 1));
    std::printf("unigram entropy of the training tokens: %.4f nats (the loss of predicting token frequencies only)\n",
                s.unigram_entropy_nats);
    auto files = [](const std::vector<std::string>& paths) {
      return paths.size() == 1 ? paths[0] : paths[0] + " .. " + paths.back() + " (" + std::to_string(paths.size()) + " shards)";
    };
    std::printf("wrote %s, %s, %s\n", files(s.train_paths).c_str(), files(s.val_paths).c_str(), s.meta_path.c_str());
    std::printf("tokenizer %s\n", opts->tokenizer_dir.c_str());
  });
}

}  // namespace mosaic
