// `mosaic prepare` as a library call: stream documents, tokenise a batch at a time with OpenMP,
// split train/val, write llm.c shards and meta.json. Not the CLI (cli/cmd_prepare.cpp) and not a
// data loader; the rules (formats, stripping, the split) are documented in prepare.hpp.
#include "text/prepare.hpp"

#include <omp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>

#include "core/error.hpp"
#include "core/progress_line.hpp"
#include "io/atomic_file.hpp"
#include "io/token_shards.hpp"
#include "text/gpt2_tokenizer.hpp"

namespace mosaic {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* const kSeparator = "<|endoftext|>";
const char* const kFieldHint =
    "each document must be a JSON object with a \"story\" or \"text\" string field, "
    "e.g. {\"story\": \"Once upon a time...\"}";
constexpr size_t kBatchBytes = size_t{8} << 20;  // text tokenised per parallel step

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

// The document text of one JSON value: its "story" field, else its "text" field.
std::string document_field(const json& value, const std::string& where) {
  MOSAIC_CHECK(value.is_object(), where + ": expected a JSON object, found " + std::string(value.type_name()),
               kFieldHint);
  for (const char* key : {"story", "text"}) {
    const auto it = value.find(key);
    if (it == value.end()) continue;
    MOSAIC_CHECK(it->is_string(),
                 where + ": field \"" + key + "\" is a " + it->type_name() + ", not a string", kFieldHint);
    return it->get<std::string>();
  }
  throw Error(where + ": JSON object has neither a \"story\" nor a \"text\" field", kFieldHint);
}

}  // namespace

InputFormat input_format_of(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".json") return InputFormat::kJsonArray;
  if (ext == ".jsonl" || ext == ".ndjson") return InputFormat::kJsonLines;
  for (const char* bad : {".gz", ".zst", ".xz", ".bz2", ".zip", ".tar", ".bin", ".parquet", ".arrow"}) {
    MOSAIC_CHECK(ext != bad, "cannot read " + path + ": " + ext + " files are not a supported input",
                 "inputs are plain text with <|endoftext|> lines, .json or .jsonl; decompress or convert it first");
  }
  return InputFormat::kText;
}

std::string_view strip_document(std::string_view text) {
  const char* const ws = " \t\n\r\v\f";
  const size_t begin = text.find_first_not_of(ws);
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(ws);
  return text.substr(begin, end - begin + 1);
}

// ---------------------------------------------------------------------------------------------
// DocumentReader

struct DocumentReader::JsonArray {
  json value;
  size_t next = 0;
};

DocumentReader::DocumentReader(const std::string& path) : path_(path), format_(input_format_of(path)) {
  std::error_code ec;
  MOSAIC_CHECK(fs::is_regular_file(path, ec), "input " + path + " does not exist or is not a file",
               "check the path; for TinyStories run scripts/get_data.sh (files land in data/tinystories/)");
  in_.open(path, std::ios::binary);
  MOSAIC_CHECK(in_.is_open(), "cannot open input " + path, "check read permission on " + path);
  if (format_ != InputFormat::kJsonArray) return;

  std::string text((std::istreambuf_iterator<char>(in_)), std::istreambuf_iterator<char>());
  MOSAIC_CHECK(!in_.bad(), "cannot read input " + path, "check the file and the disk it is on");
  json_ = std::make_unique<JsonArray>();
  try {
    json_->value = json::parse(text);
  } catch (const json::parse_error& e) {
    const size_t upto = std::min(e.byte, text.size());
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(upto), '\n');
    throw Error(path + ":" + std::to_string(line) + ": invalid JSON (" + e.what() + ")",
                "a .json input must be one JSON array of objects; use .jsonl for one object per line");
  }
  MOSAIC_CHECK(json_->value.is_array(),
               path + ": expected a JSON array of documents, found " + std::string(json_->value.type_name()),
               "a .json input must be one JSON array of objects; use .jsonl for one object per line");
  bytes_read_ = text.size();  // all consumed by the parse
}

DocumentReader::~DocumentReader() = default;

bool DocumentReader::next(std::string& doc) {
  for (;;) {
    bool got = false;
    switch (format_) {
      case InputFormat::kText: got = next_text(doc); break;
      case InputFormat::kJsonLines: got = next_json_line(doc); break;
      case InputFormat::kJsonArray: got = next_json_element(doc); break;
    }
    if (!got) return false;
    const std::string_view stripped = strip_document(doc);
    if (stripped.empty()) {
      ++empty_skipped_;
      continue;
    }
    if (stripped.size() != doc.size()) doc = std::string(stripped);
    return true;
  }
}

// Lines up to (not including) the next separator line, joined by '\n'.
bool DocumentReader::next_text(std::string& doc) {
  if (at_end_) return false;
  doc.clear();
  std::string line;
  bool any = false;
  while (std::getline(in_, line)) {
    ++line_;
    bytes_read_ += line.size() + (in_.eof() ? 0 : 1);
    const std::string_view body =
        !line.empty() && line.back() == '\r' ? std::string_view(line).substr(0, line.size() - 1) : line;
    if (body == kSeparator) return true;
    if (any) doc += '\n';
    doc += line;
    any = true;
  }
  MOSAIC_CHECK(!in_.bad(), "cannot read input " + path_ + " (after line " + std::to_string(line_) + ")",
               "check the file and the disk it is on");
  at_end_ = true;
  return any;  // text after the last separator is a document too
}

bool DocumentReader::next_json_line(std::string& doc) {
  std::string line;
  while (std::getline(in_, line)) {
    ++line_;
    bytes_read_ += line.size() + (in_.eof() ? 0 : 1);
    if (strip_document(line).empty()) continue;
    const std::string where = path_ + ":" + std::to_string(line_);
    json value;
    try {
      value = json::parse(line);
    } catch (const json::parse_error& e) {
      throw Error(where + ": invalid JSON (" + e.what() + ")",
                  "a .jsonl input holds one JSON object per line; use .json for a single array");
    }
    doc = document_field(value, where);
    return true;
  }
  MOSAIC_CHECK(!in_.bad(), "cannot read input " + path_ + " (after line " + std::to_string(line_) + ")",
               "check the file and the disk it is on");
  return false;
}

bool DocumentReader::next_json_element(std::string& doc) {
  if (json_->next >= json_->value.size()) return false;
  const size_t i = json_->next++;
  doc = document_field(json_->value[i], path_ + ": element " + std::to_string(i));
  json_->value[i] = nullptr;  // free it: each element is read once
  return true;
}

std::vector<std::string> read_documents(const std::string& path) {
  DocumentReader reader(path);
  std::vector<std::string> docs;
  std::string doc;
  while (reader.next(doc)) docs.push_back(std::move(doc));
  return docs;
}

// ---------------------------------------------------------------------------------------------
// Split and statistics

bool is_held_out(size_t index, double val_frac) {
  return std::floor(static_cast<double>(index + 1) * val_frac) > std::floor(static_cast<double>(index) * val_frac);
}

double unigram_entropy_nats(std::span<const uint16_t> tokens) {
  if (tokens.empty()) return 0;
  std::vector<uint64_t> counts(size_t{1} << 16, 0);
  for (const uint16_t t : tokens) ++counts[t];
  const double n = static_cast<double>(tokens.size());
  double h = 0;
  for (const uint64_t c : counts) {
    if (c == 0) continue;
    const double p = static_cast<double>(c) / n;
    h -= p * std::log(p);
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
// prepare_corpus

namespace {

enum class Role { kTrain, kSplit, kVal };  // kSplit: inputs when the validation set is held out

struct SourceStats {
  std::string path;
  InputFormat format;
  Role role;
  size_t documents = 0, val_documents = 0, empty_skipped = 0;
  uint64_t bytes = 0;
};

struct Corpus {
  std::vector<uint16_t> train, val;
  size_t train_documents = 0, val_documents = 0;
  size_t split_index = 0;           // documents seen so far by the --val-frac rule
  size_t last_train_start = 0;      // offset in `train` of the last training document
  uint64_t bytes_done = 0;          // input bytes of finished sources
};

// Progress on stderr (core/progress_line.hpp) in input bytes, with the documents and tokens so
// far; the total is the inputs' sizes (unknown when one is not a regular file). None with --quiet.
class Progress {
 public:
  Progress(bool enabled, const std::vector<SourceStats>& sources) {
    if (!enabled) return;
    for (const auto& src : sources) {
      std::error_code ec;
      const bool sized = fs::is_regular_file(src.path, ec);  // a FIFO has no size: no total, no ETA
      const auto size = sized ? fs::file_size(src.path, ec) : 0;
      if (!sized || ec) {
        total_ = 0;
        break;
      }
      total_ += static_cast<int64_t>(size);
    }
    line_.emplace("prepare", "MB", 1e6);
  }
  void update(const Corpus& c, uint64_t bytes) {
    if (!line_) return;
    (*line_)(static_cast<int64_t>(bytes), total_,
             std::to_string(c.train_documents + c.val_documents) + " documents, " +
                 std::to_string(c.train.size() + c.val.size()) + " tokens");
  }

 private:
  std::optional<ProgressLine> line_;
  int64_t total_ = 0;
};

// Tokens of each document with EOT in front, in parallel; element i belongs to docs[i], so
// the result does not depend on the thread count or the schedule.
std::vector<std::vector<uint16_t>> tokenize_batch(const std::vector<std::string>& docs, const Gpt2Tokenizer& tok,
                                                  int threads) {
  std::vector<std::vector<uint16_t>> out(docs.size());
  const auto n = static_cast<std::ptrdiff_t>(docs.size());
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const std::vector<int> ids = tok.encode_ordinary(docs[i]);
    auto& dst = out[i];
    dst.reserve(ids.size() + 1);
    dst.push_back(static_cast<uint16_t>(tok.eot()));
    for (const int id : ids) dst.push_back(static_cast<uint16_t>(id));  // ids < vocab_size <= 65536
  }
  return out;
}

void append_document(Corpus& c, std::vector<uint16_t>&& tokens, bool to_val) {
  auto& dst = to_val ? c.val : c.train;
  if (!to_val) c.last_train_start = c.train.size();
  dst.insert(dst.end(), tokens.begin(), tokens.end());
  ++(to_val ? c.val_documents : c.train_documents);
}

void process_source(SourceStats& src, Corpus& c, const Gpt2Tokenizer& tok, double val_frac, int threads,
                    Progress& progress) {
  DocumentReader reader(src.path);
  std::vector<std::string> batch;
  std::string doc;
  bool more = true;
  while (more) {
    batch.clear();
    size_t batch_bytes = 0;
    while (batch_bytes < kBatchBytes && (more = reader.next(doc))) {
      batch_bytes += doc.size();
      batch.push_back(std::move(doc));
    }
    auto tokens = tokenize_batch(batch, tok, threads);
    for (auto& t : tokens) {
      bool to_val = src.role == Role::kVal;
      if (src.role == Role::kSplit) to_val = is_held_out(c.split_index++, val_frac);
      src.val_documents += to_val;
      append_document(c, std::move(t), to_val);
    }
    src.documents += batch.size();
    progress.update(c, c.bytes_done + reader.bytes_read());
  }
  src.bytes = reader.bytes_read();
  src.empty_skipped = reader.empty_skipped();
  c.bytes_done += src.bytes;
}

// Writes one split: dir/<split>.bin, or numbered shards of shard_tokens tokens (llm.c's
// names). Shards of this split that an earlier run wrote under either naming go first, so
// that the reader (io/token_shards.hpp) never mixes old and new files.
std::vector<std::string> write_split(const fs::path& dir, const std::string& split, std::span<const uint16_t> tokens,
                                     int64_t shard_tokens) {
  std::error_code ec;
  fs::remove(dir / (split + ".bin"), ec);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("mosaic_" + split + "_") && name.ends_with(".bin")) fs::remove(entry.path(), ec);
  }
  if (shard_tokens <= 0) {
    const std::string path = (dir / (split + ".bin")).string();
    write_token_shard(path, tokens);
    return {path};
  }
  std::vector<std::string> paths;
  for (size_t first = 0; first < tokens.size(); first += static_cast<size_t>(shard_tokens)) {
    char name[64];
    std::snprintf(name, sizeof name, "mosaic_%s_%06zu.bin", split.c_str(), paths.size());
    paths.push_back((dir / name).string());
    write_token_shard(paths.back(), tokens.subspan(first, std::min<size_t>(shard_tokens, tokens.size() - first)));
  }
  return paths;
}

void check_options(const PrepareOptions& o) {
  MOSAIC_CHECK(!o.inputs.empty(), "prepare needs at least one input file",
               "pass TinyStories text, .json or .jsonl files; scripts/get_data.sh puts TinyStories in data/tinystories/");
  MOSAIC_CHECK(!o.out_dir.empty(), "prepare needs an output directory", "pass -o OUTDIR");
  MOSAIC_CHECK(o.threads >= 0, "thread count must be >= 0, got " + std::to_string(o.threads),
               "pass -t 0 for OpenMP's default");
  MOSAIC_CHECK(o.shard_tokens == 0 || o.shard_tokens >= 1024,
               "--shard-size must be 0 (one file per split) or at least 1024 tokens, got " + std::to_string(o.shard_tokens),
               "llm.c writes shards of 100M tokens; e.g. --shard-size 100000000");
  if (o.val_inputs.empty()) {
    MOSAIC_CHECK(o.val_frac > 0 && o.val_frac < 1,
                 "--val-frac must be in (0, 1), got " + json(o.val_frac).dump(),
                 "e.g. --val-frac 0.05 holds out every 20th document; or pass --val FILE");
  }
  for (const auto& v : o.val_inputs) {
    for (const auto& in : o.inputs) {
      std::error_code ec;
      MOSAIC_CHECK(!fs::equivalent(v, in, ec), v + " is both a training input and a validation input",
                   "validation text must not be trained on; pass it only with --val");
    }
  }
  for (const auto& p : o.inputs) input_format_of(p);  // reject unsupported files before any work
  for (const auto& p : o.val_inputs) input_format_of(p);
}

const char* format_name(InputFormat f) {
  switch (f) {
    case InputFormat::kText: return "text";
    case InputFormat::kJsonArray: return "json";
    case InputFormat::kJsonLines: return "jsonl";
  }
  return "?";
}

json meta_json(const PrepareOptions& o, const PrepareStats& s, const std::vector<SourceStats>& sources,
               const Gpt2Tokenizer& tok) {
  json meta = {{"tokenizer", "gpt2"},
               {"vocab_size", tok.vocab_size()},
               {"eot", tok.eot()},
               {"eot_placement", "before each document"},
               {"shard_format", "llm.c v1: 256 int32 header (20240520, 1, count), uint16 tokens"},
               {"train_tokens", s.train_tokens},
               {"val_tokens", s.val_tokens},
               {"train_documents", s.train_documents},
               {"val_documents", s.val_documents},
               {"empty_documents_skipped", s.empty_skipped},
               {"unigram_entropy_nats", s.unigram_entropy_nats}};
  if (o.val_inputs.empty()) {
    meta["val_split"] = "held out: document i (0-based over all inputs) when floor((i+1)*f) > floor(i*f)";
    meta["val_frac"] = o.val_frac;
  } else {
    meta["val_split"] = "files";
  }
  json list = json::array();
  for (const auto& src : sources) {
    const char* use = src.role == Role::kTrain ? "train" : src.role == Role::kVal ? "val" : "train+val";
    list.push_back({{"path", src.path}, {"format", format_name(src.format)}, {"split", use},
                    {"documents", src.documents}, {"val_documents", src.val_documents}, {"bytes", src.bytes}});
  }
  meta["sources"] = std::move(list);
  return meta;
}

}  // namespace

PrepareStats prepare_corpus(const PrepareOptions& o) {
  check_options(o);
  const std::string tok_dir = o.tokenizer_dir.empty() ? Gpt2Tokenizer::default_dir() : o.tokenizer_dir;
  const Gpt2Tokenizer tok = Gpt2Tokenizer::load(tok_dir);
  MOSAIC_CHECK(tok.vocab_size() <= 65536, "tokenizer in " + tok_dir + " has " + std::to_string(tok.vocab_size()) +
                   " tokens; shards store uint16 ids",
               "use the GPT-2 tokenizer (scripts/setup_tokenizer.sh)");
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  MOSAIC_CHECK(!ec && fs::is_directory(o.out_dir), "cannot create output directory " + o.out_dir +
                   (ec ? ": " + ec.message() : ": a file has that name"),
               "check the path and write permission on its parent");

  std::vector<SourceStats> sources;
  const Role input_role = o.val_inputs.empty() ? Role::kSplit : Role::kTrain;
  for (const auto& p : o.inputs) sources.push_back({p, input_format_of(p), input_role});
  for (const auto& p : o.val_inputs) sources.push_back({p, input_format_of(p), Role::kVal});

  const auto start = std::chrono::steady_clock::now();
  Progress progress(o.progress, sources);
  Corpus c;
  const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
  for (auto& src : sources) process_source(src, c, tok, o.val_frac, threads, progress);

  PrepareStats s;
  for (const auto& src : sources) s.empty_skipped += src.empty_skipped;
  const std::string inputs_hint = "check that the inputs hold text: stories separated by <|endoftext|> lines, "
                                  "or JSON objects with a \"story\" or \"text\" field";
  MOSAIC_CHECK(c.train_documents > 0, "no training documents in the inputs (" + std::to_string(s.empty_skipped) +
                   " empty ones skipped)", inputs_hint);
  if (o.val_inputs.empty() && c.val_documents == 0) {
    // n * val_frac < 1: the rule held out nothing, so the last document becomes the validation set.
    MOSAIC_CHECK(c.train_documents >= 2,
                 "cannot hold out a validation document: the inputs hold only " +
                     std::to_string(c.train_documents) + " document",
                 "add documents, or pass a separate validation file with --val FILE");
    c.val.assign(c.train.begin() + static_cast<std::ptrdiff_t>(c.last_train_start), c.train.end());
    c.train.resize(c.last_train_start);
    --c.train_documents, ++c.val_documents;
    const auto last = std::find_if(sources.rbegin(), sources.rend(), [](const auto& x) { return x.documents > 0; });
    ++last->val_documents;
  }
  MOSAIC_CHECK(c.val_documents > 0, "no validation documents in the --val inputs", inputs_hint);

  s.train_documents = c.train_documents, s.val_documents = c.val_documents;
  s.train_tokens = c.train.size(), s.val_tokens = c.val.size();
  s.input_bytes = c.bytes_done;
  s.unigram_entropy_nats = unigram_entropy_nats(c.train);
  const fs::path dir(o.out_dir);
  s.meta_path = (dir / "meta.json").string();
  s.train_paths = write_split(dir, "train", c.train, o.shard_tokens);
  s.val_paths = write_split(dir, "val", c.val, o.shard_tokens);
  const std::string meta = meta_json(o, s, sources, tok).dump(2) + "\n";  // last: its presence means done
  write_file_atomically(s.meta_path, std::as_bytes(std::span<const char>(meta.data(), meta.size())));
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

}  // namespace mosaic
