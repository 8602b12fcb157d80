// `mosaic sample`: generate text from a checkpoint with llama.cpp-style flags. Streaming by
// default (infer/stream.hpp: the mosaic's live memories, GPT's KV cache); --recompute runs the
// reference's full recomputation instead. Text streams to stdout; prompt-processing and
// generation speed go to stderr at the end. The text is valid UTF-8 (characters split across
// tokens are held until complete) and a sample ends at <|endoftext|> unless --ignore-eos.
// --num-samples N streams N samples together (one vocabulary product per step for all); sample
// i draws from its own generator, seeded seed + i, so it is the same alone or among others.
// A prompt is at most --max-prompt-bytes of text; a long one shows its progress on stderr, and a
// Memory Mosaic's memory growing past what runs fast gets a hint about --mem-limit.
// --load-memory starts from a saved stream (a document read once) and --save-memory writes the
// stream after the prompt and the sample (io/memory_file.hpp; docs/long_memory.md).
#include <CLI/CLI.hpp>

#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.hpp"
#include "cli/memory_flags.hpp"
#include "core/error.hpp"
#include "core/progress_line.hpp"
#include "infer/generate.hpp"
#include "io/memory_file.hpp"
#include "io/model_io.hpp"
#include "kernels/threads.hpp"
#include "text/gpt2_tokenizer.hpp"
#include "text/utf8_stream.hpp"

namespace mosaic {

namespace {

// 1 MiB of text, about 250,000 tokens: minutes for an unbounded Memory Mosaic on 2 cores, whose
// every token reads every pair stored before it.
constexpr int64_t kMaxPromptBytes = int64_t{1} << 20;

struct SampleOptions {
  std::string model, prompt, prompt_file, tokenizer_dir, evict = "oldest", head = "fp32", save_memory, load_memory;
  bool prompt_given = false, recompute = false, ignore_eos = false;
  int n = kSampleTokens, threads = 0, num_samples = 1;
  int64_t seed = static_cast<int64_t>(kSampleSeed), max_prompt_bytes = kMaxPromptBytes;
  SamplerConfig sampler = kSampleDefaults;
  StreamOptions stream;
  MemoryFlags memory;
  bool memory_files() const { return !save_memory.empty() || !load_memory.empty(); }
};

Error prompt_too_long(const std::string& source, int64_t max_bytes) {
  return Error("the prompt (" + source + ") is longer than --max-prompt-bytes " + std::to_string(max_bytes),
               "shorten it, or raise --max-prompt-bytes; a Memory Mosaic reads a long prompt slower with every "
               "token unless --mem-limit bounds its memory (docs/inference.md)");
}

// A prompt's bytes from `in`, a block at a time, so that an input without end (/dev/zero, a
// pipe that never closes) stops at the limit; a NUL byte is no text.
std::string read_prompt_text(std::istream& in, const std::string& source, int64_t max_bytes) {
  std::string text;
  std::vector<char> block(1 << 16);
  while (in.read(block.data(), static_cast<std::streamsize>(block.size())) || in.gcount() > 0) {
    const std::string_view got(block.data(), static_cast<size_t>(in.gcount()));
    const size_t nul = got.find('\0');
    MOSAIC_CHECK(nul == std::string_view::npos,
                 "the prompt (" + source + ") holds a NUL byte at byte " + std::to_string(text.size() + nul) +
                     ": it is not text",
                 "pass UTF-8 text with -p, -f FILE or on stdin");
    if (static_cast<int64_t>(text.size() + got.size()) > max_bytes) throw prompt_too_long(source, max_bytes);
    text.append(got);
  }
  return text;
}

// -p, else -f, else stdin when it is not a terminal, else "" (a new story after <|endoftext|>);
// at most --max-prompt-bytes.
std::string read_prompt(const SampleOptions& o) {
  if (o.prompt_given) {
    if (static_cast<int64_t>(o.prompt.size()) > o.max_prompt_bytes) throw prompt_too_long("-p", o.max_prompt_bytes);
    return o.prompt;
  }
  if (!o.prompt_file.empty()) {
    std::error_code ec;  // not a directory, FIFO or device: opening a FIFO would wait forever
    MOSAIC_CHECK(std::filesystem::is_regular_file(o.prompt_file, ec), "prompt file " + o.prompt_file + " is not a regular file",
                 "pass a text file to -f (or pipe the prompt on stdin)");
    const auto size = std::filesystem::file_size(o.prompt_file, ec);
    if (!ec && static_cast<int64_t>(size) > o.max_prompt_bytes) throw prompt_too_long(o.prompt_file, o.max_prompt_bytes);
    std::ifstream in(o.prompt_file, std::ios::binary);
    MOSAIC_CHECK(in.good(), "cannot open prompt file " + o.prompt_file, "check the path given to -f");
    return read_prompt_text(in, o.prompt_file, o.max_prompt_bytes);
  }
  if (!isatty(fileno(stdin))) return read_prompt_text(std::cin, "stdin", o.max_prompt_bytes);
  return {};
}

// Pairs per head past which an unbounded Memory Mosaic is slow: every token reads every stored
// pair, so its time grows linearly with them. docs/inference.md measures, at 4,096 tokens of
// context, 559 generated tokens/s against 1,287 with --mem-limit 256 and a prompt read at 3,600
// tokens/s against 18,700; from there on each token costs more than the one before.
constexpr int64_t kSlowMemoryPairs = 4096;

// One hint line, the first time a Memory Mosaic's memory (or the prompt about to fill it) holds
// more than kSlowMemoryPairs pairs per head with no --mem-limit below that.
class MemoryHint {
 public:
  MemoryHint(const ModelConfig& c, const MemoryLimit& limit, ProgressLine& line)
      : due_(c.arch == "mosaic" && (limit.max_pairs == 0 || limit.max_pairs > kSlowMemoryPairs)), line_(line) {}
  void check(int64_t tokens) {
    if (!due_ || tokens <= kSlowMemoryPairs) return;
    due_ = false;
    line_.note("hint: past " + std::to_string(kSlowMemoryPairs) +
               " tokens the Memory Mosaic's memory slows every token (each reads every stored pair); --mem-limit N "
               "keeps N pairs per head (e.g. 1024) and the speed (docs/inference.md)");
  }

 private:
  bool due_;
  ProgressLine& line_;
};

constexpr int kUntilEndCap = 1 << 16;  // -n -1: until <|endoftext|>, at most this many tokens

// The full-recompute baseline, timed like generate_streaming.
GenerationStats generate_recompute(LanguageModel<float>& model, const std::vector<int32_t>& prompt, int n, int vocab,
                                   Sampler& sampler, Rng& rng, const std::function<void(int32_t)>& on_token,
                                   int32_t stop_token) {
  std::vector<int32_t> context = prompt;
  const auto t0 = std::chrono::steady_clock::now();
  GenerationStats s;
  s.generated = generate(model, context, n, vocab, sampler, rng, on_token, stop_token);
  s.prompt_tokens = static_cast<int64_t>(prompt.size());  // processed inside the first step
  s.generate_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

// Samples 1..N streamed together, `first` (made with `options`) and N - 1 more; each sample's
// text printed whole, in order, as soon as it and every sample before it have ended.
GenerationStats sample_together(const LanguageModel<float>& model, TokenStream& first, const StreamOptions& options,
                                int samples, const std::string& prompt, const std::vector<int32_t>& prompt_ids, int n,
                                const Gpt2Tokenizer& tokenizer, Sampler& sampler, uint64_t seed, int32_t stop,
                                const std::function<void(int, const std::string&)>& print, ProgressLine& progress,
                                MemoryHint& hint) {
  StreamOptions others = options;
  others.head = HeadPrecision::Fp32;  // only the first stream's head projects: no bf16 copy each
  std::vector<std::unique_ptr<TokenStream>> owned;
  std::vector<TokenStream*> streams{&first};
  std::vector<Rng> rngs{Rng(seed)};
  for (int i = 1; i < samples; ++i) {
    owned.push_back(make_stream(model, others));
    streams.push_back(owned.back().get());
    rngs.emplace_back(seed + i);
  }
  const std::vector<std::vector<int32_t>> prompts(samples, prompt_ids);
  std::vector<Utf8Stream> text(samples);
  std::vector<std::string> out(samples);
  for (int i = 0; i < samples; ++i) out[i] = text[i].feed(prompt);
  std::vector<bool> done(samples, false);
  int printed = 0;
  auto on_token = [&](int i, int32_t id) {
    hint.check(first.position());
    out[i] += text[i].feed(tokenizer.token_bytes(id));
  };
  auto on_done = [&](int i) {
    out[i] += text[i].flush();
    done[i] = true;
    for (; printed < samples && done[printed]; ++printed) print(printed, out[printed]);
  };
  return generate_streaming_batch(streams, first.head(), prompts, n, tokenizer.vocab_size(), sampler, rngs, on_token,
                                  on_done, stop, std::ref(progress));
}

void print_stats(const GenerationStats& s, int samples, const std::string& path) {
  std::fprintf(stderr, "%s\n", path.c_str());
  if (s.prompt_seconds > 0)
    std::fprintf(stderr, "prompt:     %6lld tokens in %7.3f s (%8.1f tok/s)\n", static_cast<long long>(s.prompt_tokens),
                 s.prompt_seconds, s.prompt_tokens_per_s());
  std::fprintf(stderr, "generation: %6lld tokens in %7.3f s (%8.1f tok/s), %d sample%s\n",
               static_cast<long long>(s.generated), s.generate_seconds, s.generated_per_s(), samples,
               samples == 1 ? "" : "s");
}

// Written as soon as it is known: a sample streams to stdout token by token.
void write_out(const std::string& piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
}

void add_sample_flags(CLI::App* cmd, SampleOptions* o) {
  cmd->add_option("-m,--model", o->model, "checkpoint (.safetensors) or run folder (its newest checkpoint)")->required();
  auto* prompt_opt = cmd->add_option("-p,--prompt", o->prompt, "prompt text (default: -f, else stdin when piped, else a new story)");
  cmd->add_option("-f,--file", o->prompt_file, "read the prompt from a file")->excludes(prompt_opt);
  cmd->add_option("-n,--n-predict", o->n,
                  "tokens to generate; -1: until <|endoftext|> (at most " + std::to_string(kUntilEndCap) + ")")
      ->check(CLI::Range(-1, 1 << 30));
  cmd->add_option("-s,--seed", o->seed, "sampling seed; -1: a random one (printed)")->check(CLI::Range(int64_t{-1}, INT64_MAX));
  cmd->add_option("-t,--threads", o->threads, "threads (default: the cores other processes leave free, checked as it streams)");
  cmd->add_option("--temp", o->sampler.temperature, "temperature; 0 = greedy")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", o->sampler.top_k, "keep the k most likely tokens (0 = off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", o->sampler.top_p, "nucleus sampling mass in (0, 1] (1 = off)");
  cmd->add_option("--min-p", o->sampler.min_p, "drop tokens below this fraction of the top token's probability (0 = off)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repeat-penalty", o->sampler.repeat_penalty,
                  "divide positive logits (multiply negative ones) of recent tokens by this (1 = off)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--repeat-last-n", o->sampler.repeat_last_n, "recent tokens the repeat penalty looks at")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--ignore-eos", o->ignore_eos, "go on past <|endoftext|> (into a new story)");
  cmd->add_option("--num-samples", o->num_samples,
                  "independent samples, streamed together (sample i is seeded seed + i)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--tokenizer", o->tokenizer_dir,
                  "folder with encoder.json and vocab.bpe (default: $MOSAIC_TOKENIZER_DIR, else the installed or checkout copy)");
  cmd->add_option("--mem-limit", o->stream.memory.max_pairs,
                  "mosaic: keep at most N (key, value) pairs per contextual-memory head (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--evict", o->evict, "mosaic, with --mem-limit: oldest | lru (least recently used)");
  cmd->add_option("--lru-threshold", o->stream.memory.lru_threshold,
                  "with --evict lru: a pair counts as used when its attention weight exceeds this")
      ->check(CLI::Range(0.0, 1.0));
  add_memory_flags(cmd, &o->memory);
  cmd->add_option("--save-memory", o->save_memory,
                  "mosaic: write the stream's memories (every pair, the indexes) to FILE after the prompt and the sample");
  cmd->add_option("--load-memory", o->load_memory,
                  "mosaic: start from memories written by --save-memory (the prompt continues them, without a new "
                  "<|endoftext|>; an empty prompt goes on where they stopped)");
  cmd->add_option("--gpt-keep", o->stream.gpt_keep,
                  "GPT: tokens re-encoded when the window slides past block_size (0 = block_size / 2)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--head", o->head,
                  "vocabulary projection: fp32, or bf16 (half the bytes per token; greedy picks are the same, "
                  "the others within a bound: docs/inference.md)");
  cmd->add_flag("--recompute", o->recompute, "full recomputation per token (the reference's loop; slow)");
  cmd->add_option("--max-prompt-bytes", o->max_prompt_bytes,
                  "the longest prompt read from -p, -f or stdin, in bytes (1 MiB: about 250,000 tokens)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

// What CLI11's checks cannot say; the eviction policy, head precision and threads from the flags.
void check_sample_flags(SampleOptions* o) {
  o->sampler.validate({"--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n"});
  MOSAIC_CHECK(std::isfinite(o->stream.memory.lru_threshold), "--lru-threshold must be a finite number",
               "see mosaic sample --help");
  MOSAIC_CHECK(o->n >= 0 || !o->ignore_eos, "-n -1 runs until <|endoftext|>, which --ignore-eos turns off",
               "give -n a number of tokens");
  o->stream.memory.policy = parse_eviction(o->evict);
  o->stream.retrieval = memory_options(o->memory);
  MOSAIC_CHECK(!o->memory_files() || (!o->recompute && o->num_samples == 1),
               "--save-memory and --load-memory keep one stream's memories", "drop --recompute and --num-samples");
  o->stream.head = parse_head_precision(o->head);
  set_threads(o->threads);
  o->stream.threads = o->threads;
}

// -s, or a random seed (printed, so that the sample can be drawn again).
uint64_t sampling_seed(int64_t flag) {
  if (flag >= 0) return static_cast<uint64_t>(flag);
  const uint64_t seed = ((static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}()) >> 1;  // fits -s
  std::fprintf(stderr, "seed: %llu\n", static_cast<unsigned long long>(seed));
  return seed;
}

// Every sample, printed to stdout (separated by ----): streamed together when there are several
// and a stream, else one after another (streaming, or recomputing without a stream). A stream
// shows its progress through a long prompt on stderr, and echoes the prompt once it is read, so
// that a terminal's progress line never overwrites it.
GenerationStats generate_samples(const SampleOptions* o, LanguageModel<float>& model, TokenStream* stream,
                                 const std::string& prompt, const std::vector<int32_t>& prompt_ids,
                                 const Gpt2Tokenizer& tokenizer, uint64_t seed) {
  Sampler sampler(o->sampler);
  const int n = o->n < 0 ? kUntilEndCap : o->n;
  const int32_t stop = o->ignore_eos ? -1 : tokenizer.eot();
  ProgressLine progress("prompt", "tokens");
  MemoryHint hint(model.config(), o->stream.memory, progress);
  if (stream) hint.check(static_cast<int64_t>(prompt_ids.size()));
  auto end_sample = [&](int s) { write_out(s + 1 < o->num_samples ? "\n----\n" : "\n"); };
  if (stream && o->num_samples > 1) {
    auto print = [&](int s, const std::string& sample) {
      write_out(sample);
      end_sample(s);
    };
    return sample_together(model, *stream, o->stream, o->num_samples, prompt, prompt_ids, n, tokenizer, sampler, seed,
                           stop, print, progress, hint);
  }
  Utf8Stream text;
  auto print_token = [&](int32_t id) {
    if (stream) hint.check(stream->position());
    write_out(text.feed(tokenizer.token_bytes(id)));
  };
  auto prompt_read = [&](int64_t fed, int64_t total) {
    progress(fed, total);
    if (fed == total) write_out(text.feed(prompt));
  };
  GenerationStats total;
  for (int s = 0; s < o->num_samples; ++s) {
    Rng rng(seed + static_cast<uint64_t>(s));
    if (!stream) write_out(text.feed(prompt));
    if (stream && o->memory_files())  // one sample, going on from --load-memory's stream, kept whole for --save-memory
      total += continue_streaming(*stream, prompt_ids, n, tokenizer.vocab_size(), sampler, rng, print_token, stop,
                                  !o->save_memory.empty(), prompt_read);
    else
      total += stream ? generate_streaming(*stream, prompt_ids, n, tokenizer.vocab_size(), sampler, rng, print_token, stop,
                                           prompt_read)
                      : generate_recompute(model, prompt_ids, n, tokenizer.vocab_size(), sampler, rng, print_token, stop);
    write_out(text.flush());
    end_sample(s);
  }
  return total;
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto o = std::make_shared<SampleOptions>();
  auto* cmd = app.add_subcommand("sample", "generate text from a trained model");
  add_sample_flags(cmd, o.get());
  cmd->callback([o, cmd] {
    o->prompt_given = cmd->count("--prompt") > 0;
    check_sample_flags(o.get());
    const std::string prompt = read_prompt(*o);  // bad -f before the model is loaded
    const std::string path = resolve_model_path(o->model);
    auto model = load_model(path);
    const std::string tokenizer_dir = o->tokenizer_dir.empty() ? Gpt2Tokenizer::default_dir() : o->tokenizer_dir;
    const auto tokenizer = Gpt2Tokenizer::load(tokenizer_dir);
    const bool continues = !o->load_memory.empty();
    const std::vector<int32_t> prompt_ids =
        document_prompt(model->config(), tokenizer.eot(), tokenizer.vocab_size(), tokenizer.encode(prompt), continues);
    MOSAIC_CHECK(!o->memory_files() || model->config().arch == "mosaic", "memory files hold Memory Mosaic streams",
                 "use --save-memory and --load-memory with a Memory Mosaic model");
    auto stream = o->recompute ? nullptr : make_stream(*model, o->stream);
    const uint64_t seed = sampling_seed(o->seed);
    std::string described = stream ? stream->describe() : "full recompute";
    if (stream && o->num_samples > 1) described += ", " + std::to_string(o->num_samples) + " streams together";
    if (continues) {
      load_memory_file(o->load_memory, *model, stream->state(), o->stream.memory);
      std::fprintf(stderr, "memory:     loaded %s (%lld positions)\n", o->load_memory.c_str(),
                   static_cast<long long>(stream->position()));
    }
    const GenerationStats total = generate_samples(o.get(), *model, stream.get(), prompt, prompt_ids, tokenizer, seed);
    if (!o->save_memory.empty()) {
      save_memory_file(o->save_memory, *model, stream->state(), o->stream.memory);
      std::fprintf(stderr, "memory:     saved %s (%lld positions)\n", o->save_memory.c_str(),
                   static_cast<long long>(stream->position()));
    }
    std::fflush(stdout);
    print_stats(total, o->num_samples, path + ": " + described);
    std::fprintf(stderr, "tokenizer:  %s\n", tokenizer_dir.c_str());
  });
}

}  // namespace mosaic
