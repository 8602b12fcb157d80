// `mosaic sample`: generate text from a checkpoint with llama.cpp-style flags; text streams to
// stdout, prompt and generation speed go to stderr.
#include <CLI/CLI.hpp>

#include <omp.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "infer/generate.hpp"
#include "kernels/gemm.hpp"
#include "text/gpt2_tokenizer.hpp"
#include "train/checkpoint.hpp"

namespace mosaic {

namespace {

struct SampleOptions {
  std::string model, prompt, prompt_file, tokenizer_dir;
  bool prompt_given = false;
  int n = 200, threads = 0, num_samples = 1;
  uint64_t seed = 42;
  SamplerConfig sampler{0.8, 0, 1.0};
};

std::string read_prompt(const SampleOptions& o) {
  if (!o.prompt_file.empty()) {
    std::ifstream in(o.prompt_file, std::ios::binary);
    MOSAIC_CHECK(in.good(), "cannot open prompt file " + o.prompt_file, "check the path given to -f");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  return o.prompt;
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto o = std::make_shared<SampleOptions>();
  auto* cmd = app.add_subcommand("sample", "generate text from a trained model");
  cmd->add_option("-m,--model", o->model, "checkpoint (.safetensors) or run folder (its newest checkpoint)")->required();
  cmd->add_option("-p,--prompt", o->prompt, "prompt text (default: start of a new story)");
  cmd->add_option("-f,--file", o->prompt_file, "read the prompt from a file");
  cmd->add_option("-n,--n-predict", o->n, "tokens to generate")->check(CLI::NonNegativeNumber);
  cmd->add_option("-s,--seed", o->seed, "sampling seed");
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  cmd->add_option("--temp", o->sampler.temperature, "temperature; 0 = greedy")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", o->sampler.top_k, "keep the k most likely tokens (0 = off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", o->sampler.top_p, "nucleus sampling mass in (0, 1] (1 = off)");
  cmd->add_option("--num-samples", o->num_samples, "independent samples")->check(CLI::PositiveNumber);
  cmd->add_option("--tokenizer", o->tokenizer_dir, "folder with encoder.json and vocab.bpe");
  cmd->callback([o] {
    MOSAIC_CHECK(o->sampler.top_p > 0 && o->sampler.top_p <= 1, "--top-p must be in (0, 1]", "1 turns it off");
    if (o->threads > 0) {
      omp_set_num_threads(o->threads);
      set_blas_threads(o->threads);
    }
    auto model = load_model(resolve_model_path(o->model));
    const auto tokenizer = Gpt2Tokenizer::load(o->tokenizer_dir.empty() ? Gpt2Tokenizer::default_dir() : o->tokenizer_dir);
    MOSAIC_CHECK(model->config().vocab_size >= tokenizer.vocab_size(),
                 "the model's vocabulary (" + std::to_string(model->config().vocab_size) + ") is smaller than the tokenizer's (" +
                     std::to_string(tokenizer.vocab_size()) + ")",
                 "this checkpoint was trained with another tokenizer");
    const std::string prompt = read_prompt(*o);
    std::vector<int> prompt_ids = tokenizer.encode(prompt);
    prompt_ids.insert(prompt_ids.begin(), tokenizer.eot());  // documents start after <|endoftext|>
    Rng rng(o->seed);
    Sampler sampler(o->sampler);
    for (int s = 0; s < o->num_samples; ++s) {
      std::vector<int32_t> context(prompt_ids.begin(), prompt_ids.end());
      std::fwrite(prompt.data(), 1, prompt.size(), stdout);
      const auto t0 = std::chrono::steady_clock::now();
      generate(*model, context, o->n, tokenizer.vocab_size(), sampler, rng, [&](int32_t id) {
        const std::string piece = tokenizer.token_bytes(id);
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      });
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("\n");
      if (o->num_samples > 1 && s + 1 < o->num_samples) std::printf("----\n");
      std::fprintf(stderr, "sample %d: %zu prompt tokens, %d generated in %.2f s (%.1f tok/s, full recompute)\n", s + 1,
                   prompt_ids.size(), o->n, sec, o->n / std::max(sec, 1e-9));
    }
  });
}

}  // namespace mosaic
