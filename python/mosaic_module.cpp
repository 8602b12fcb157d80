// `import mosaic`: load, generate from, evaluate, look inside and train models from Python and
// NumPy (docs/python.md). Thin: each call converts its arguments, lets go of the GIL, and calls
// what the subcommands call (load_model, TokenStream with StreamingSample / Continuation,
// evaluate_tokens, attention_maps, explain_attention, train). Not a second implementation of any
// of it. Shapes: tokens (T); logits (T, V); losses (windows, T); attention (L, H, T); memory (L, H).
#include <dlfcn.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/json_value.hpp"
#include "eval/attention_map.hpp"
#include "eval/lm_eval.hpp"
#include "eval/windows.hpp"
#include "infer/generate.hpp"
#include "io/model_io.hpp"
#include "kernels/threads.hpp"
#include "text/gpt2_tokenizer.hpp"
#include "text/stop_text.hpp"
#include "text/utf8_stream.hpp"
#include "train/trainer.hpp"

namespace py = pybind11;

namespace mosaic {
namespace {

// ---- errors -------------------------------------------------------------------------------

// mosaic.Error and mosaic.ArgumentError (also a ValueError), made when the module is imported.
PyObject* g_error = nullptr;
PyObject* g_argument_error = nullptr;

// A bad argument of a Python call: raised as mosaic.ArgumentError, so `except ValueError` sees it.
struct ArgumentError : Error {
  using Error::Error;
};

// The library's Error for a check of the caller's arguments, as an ArgumentError.
template <class Call>
decltype(auto) checked_argument(Call&& call) {
  try {
    return call();
  } catch (const ArgumentError&) {
    throw;
  } catch (const Error& e) {
    throw ArgumentError(e.what(), e.hint);
  }
}

// str(e) is what `mosaic` prints: the message, then "hint: ..."; both are attributes too.
void raise_as(PyObject* type, const Error& e) {
  const std::string text = e.hint.empty() ? e.what() : std::string(e.what()) + "\nhint: " + e.hint;
  py::object exception = py::reinterpret_borrow<py::object>(type)(text);
  exception.attr("message") = py::str(e.what());
  exception.attr("hint") = py::str(e.hint);
  PyErr_SetObject(type, exception.ptr());
}

// Between tokens or batches of a call running without the GIL: a pending Ctrl-C (any signal
// whose Python handler raises) ends the call with the handler's exception, KeyboardInterrupt.
void check_signals() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

// ---- conversions ----------------------------------------------------------------------------

py::object json_to_python(const nlohmann::json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

nlohmann::json python_to_json(const py::handle& object, const std::string& what) {
  const std::string text = py::str(py::module_::import("json").attr("dumps")(object, py::arg("allow_nan") = false));
  return checked_argument(
      [&] { return parse_json(text, what, "give a dict of plain values (numbers, strings, booleans)"); });
}

// Token ids from a sequence or a 1-D NumPy array of integers below vocab (TypeError for other
// types, ArgumentError for other values).
std::vector<int32_t> token_ids(const py::handle& object, int vocab) {
  if (py::isinstance<py::str>(object) || py::isinstance<py::bytes>(object))
    throw py::type_error("expected token ids (a list or NumPy array of integers), not text");
  const py::array array = py::module_::import("numpy").attr("asarray")(object);
  if (array.ndim() != 1)
    throw py::type_error("token ids must be one-dimensional, not of " + std::to_string(array.ndim()) + " dimensions");
  if (array.size() == 0) throw ArgumentError("no token ids", "give at least one token id");
  const char kind = array.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw py::type_error("token ids must be integers, not " + std::string(py::str(array.dtype())));
  const auto ids = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(array);
  std::vector<int32_t> out(ids.size());
  for (py::ssize_t i = 0; i < ids.size(); ++i) {
    const int64_t id = ids.at(i);
    if (id < 0 || id >= vocab)
      throw ArgumentError("token id " + std::to_string(id) + " at index " + std::to_string(i) +
                              " is outside the model's vocabulary of " + std::to_string(vocab),
                          "ids run from 0 to " + std::to_string(vocab - 1));
    out[i] = static_cast<int32_t>(id);
  }
  return out;
}

template <class T>
py::array_t<T> numpy_copy(const T* data, std::vector<py::ssize_t> shape) {
  py::array_t<T> out(shape);
  std::copy_n(data, out.size(), out.mutable_data());
  return out;
}

// ---- the model --------------------------------------------------------------------------------

// The GPT-2 vocabulary, <|endoftext|> the last: a model with fewer ids takes token ids, not text.
constexpr int kGpt2Vocabulary = 50257;

// The tokenizer an installed module ships with (PREFIX/share/mosaic/tokenizer, found from the
// module's own file), else Gpt2Tokenizer's own search ($MOSAIC_TOKENIZER_DIR, the checkout).
std::string default_tokenizer_dir() {
  const char* env = std::getenv("MOSAIC_TOKENIZER_DIR");
  Dl_info self{};
  if ((!env || !*env) && dladdr(reinterpret_cast<void*>(&default_tokenizer_dir), &self) && self.dli_fname) {
    const auto installed = std::filesystem::path(self.dli_fname).parent_path() / MOSAIC_MODULE_TO_DATA / "tokenizer";
    if (std::filesystem::is_regular_file(installed / "encoder.json")) return installed.lexically_normal().string();
  }
  return Gpt2Tokenizer::default_dir();
}

struct Model {
  std::string path, tokenizer_dir;
  std::unique_ptr<LanguageModel<float>> lm;
  std::mutex pass;  // one forward pass at a time: the model keeps its activations

  const ModelConfig& config() const { return lm->config(); }
  bool reads_text() const { return config().vocab_size >= kGpt2Vocabulary; }

  // The GPT-2 tokenizer, loaded on first use; Error for a model of another vocabulary.
  const Gpt2Tokenizer& tokenizer() {
    MOSAIC_CHECK(reads_text(),
                 "this model's vocabulary (" + std::to_string(config().vocab_size) +
                     ") is not GPT-2's: it reads token ids, not text",
                 "pass token ids (a list or NumPy array of integers) instead of text");
    std::call_once(tokenizer_loaded_, [this] { tokenizer_ = Gpt2Tokenizer::load(tokenizer_dir); });
    return *tokenizer_;
  }

  // Text as ids (without <|endoftext|>), or token ids checked against the vocabulary.
  std::vector<int32_t> ids_of(const py::handle& text_or_ids) {
    if (!py::isinstance<py::str>(text_or_ids)) return token_ids(text_or_ids, config().vocab_size);
    const std::string text = text_or_ids.cast<std::string>();
    const Gpt2Tokenizer& tok = tokenizer();
    py::gil_scoped_release free;
    const std::vector<int> ids = tok.encode(text);
    return {ids.begin(), ids.end()};
  }

  // A token's text for people (a character split across tokens shows as U+FFFD); null without text.
  py::object piece(int32_t id) {
    if (!reads_text() || id >= tokenizer().vocab_size()) return py::none();
    return py::bytes(tokenizer().token_bytes(id)).attr("decode")("utf-8", "replace");
  }

 private:
  std::once_flag tokenizer_loaded_;
  std::optional<Gpt2Tokenizer> tokenizer_;
};

using ModelPtr = std::shared_ptr<Model>;

ModelPtr load(const std::filesystem::path& path, const std::optional<std::filesystem::path>& tokenizer) {
  auto model = std::make_shared<Model>();
  model->tokenizer_dir = tokenizer ? tokenizer->string() : default_tokenizer_dir();
  py::gil_scoped_release free;
  model->path = resolve_model_path(path.string());
  model->lm = load_model(model->path);
  return model;
}

// The window of a text of n tokens: `context`, else the model's block_size or the whole text
// when it is shorter (one window).
int window_of(const Model& m, std::optional<int> context, size_t n) {
  if (n < 2) throw ArgumentError("the text holds " + std::to_string(n) + " token" + (n == 1 ? "" : "s"),
                                 "give at least two tokens: each scores the next");
  if (context) {
    if (*context < 2) throw ArgumentError("context must be at least 2 tokens", "None takes the model's block_size");
    return *context;
  }
  return static_cast<int>(std::min<size_t>(m.config().block_size, n - 1));
}

std::vector<uint16_t> as_uint16(const std::vector<int32_t>& ids) {
  for (int32_t id : ids)
    if (id > UINT16_MAX)
      throw ArgumentError("token id " + std::to_string(id) + " does not fit 16 bits",
                          "evaluation reads 16-bit token ids, as token shards do");
  return {ids.begin(), ids.end()};
}

py::array_t<float> logits(Model& m, const py::handle& tokens) {
  const std::vector<int32_t> ids = token_ids(tokens, m.config().vocab_size);
  const int T = static_cast<int>(ids.size()), V = m.config().vocab_size;
  py::array_t<float> out({static_cast<py::ssize_t>(T), static_cast<py::ssize_t>(V)});
  float* dst = out.mutable_data();
  py::gil_scoped_release free;
  std::lock_guard lock(m.pass);
  std::unique_ptr<LanguageModel<float>> longer;  // a Memory Mosaic past its block_size
  LanguageModel<float>& lm =
      checked_argument([&]() -> LanguageModel<float>& { return model_for_context(*m.lm, T, longer); });
  lm.forward(ids.data(), nullptr, 1, T);
  std::copy_n(lm.logits(), static_cast<int64_t>(T) * V, dst);
  return out;
}

py::dict evaluate(Model& m, const py::handle& text_or_tokens, std::optional<int> context, int batch) {
  std::vector<int32_t> ids = m.ids_of(text_or_tokens);
  // A text is a document: scored after <|endoftext|>, as `mosaic eval` reads one.
  if (py::isinstance<py::str>(text_or_tokens)) ids.insert(ids.begin(), m.tokenizer().eot());
  const std::vector<uint16_t> tokens = as_uint16(ids);
  EvalOptions options;
  options.context = window_of(m, context, tokens.size());
  options.batch = batch;
  options.keep_window_losses = true;
  const auto token_bytes = m.reads_text() ? gpt2_token_bytes(m.tokenizer()) : [](int) { return 0.0; };
  EvalResult r;
  {
    py::gil_scoped_release free;
    std::lock_guard lock(m.pass);
    r = checked_argument([&] {
      if (options.batch < 1) throw Error("batch must be positive", "e.g. batch=8");
      return evaluate_tokens(*m.lm, tokens, options, token_bytes, [](int64_t, int64_t) { check_signals(); });
    });
  }
  const auto T = static_cast<py::ssize_t>(r.context);
  py::dict d;
  d["mean_loss"] = r.mean_loss;
  d["perplexity"] = r.perplexity;
  d["bits_per_byte"] = m.reads_text() ? py::cast(r.bits_per_byte) : py::none();
  d["context"] = r.context;
  d["windows"] = r.windows;
  d["tokens_scored"] = r.tokens_scored;
  d["position_loss"] = numpy_copy(r.position_loss.data(), {T});
  d["position_stderr"] = numpy_copy(r.position_stderr.data(), {T});
  d["losses"] = numpy_copy(r.window_losses.data(), {static_cast<py::ssize_t>(r.windows), T});
  return d;
}

py::array_t<double> attention(Model& m, const py::handle& text_or_tokens, std::optional<int> context, int64_t windows,
                              int batch) {
  const std::vector<uint16_t> tokens = as_uint16(m.ids_of(text_or_tokens));  // as `mosaic attention --text`
  AttentionMapOptions options;
  options.context = window_of(m, context, tokens.size());
  options.max_windows = windows;
  options.batch = batch;
  AttentionMaps r;
  {
    py::gil_scoped_release free;
    std::lock_guard lock(m.pass);
    r = checked_argument([&] {
      if (windows < 0) throw Error("windows must be 0 (all) or more", "e.g. windows=16");
      return attention_maps(*m.lm, tokens, options, [](int64_t, int64_t) { check_signals(); });
    });
  }
  const int L = m.config().n_layer, H = m.config().n_head, T = r.context;
  py::array_t<double> out({L, H, T});
  for (const HeadMap& head : r.heads) std::copy_n(head.weight.data(), T, out.mutable_data(head.layer, head.head, 0));
  return out;
}

py::list explain(Model& m, const py::handle& text_or_tokens, int top, std::optional<int> context) {
  const std::vector<uint16_t> tokens = as_uint16(m.ids_of(text_or_tokens));
  Explanation e;
  {
    py::gil_scoped_release free;
    std::lock_guard lock(m.pass);
    e = checked_argument([&] { return explain_attention(*m.lm, tokens, top, context.value_or(0)); });
  }
  auto entry = [&](int position) {  // a position's token, and its text when the model reads text
    py::dict d;
    d["token"] = tokens[position];
    if (m.reads_text()) d["text"] = m.piece(tokens[position]);
    return d;
  };
  py::list rows;
  for (const PositionRetrievals& row : e.rows) {
    py::dict r = entry(row.position);
    r["layer"] = row.layer;
    r["head"] = row.head;
    r["position"] = row.position;
    py::list retrieved;
    for (const Retrieval& got : row.top) {
      py::dict g = entry(got.position);
      g["position"] = got.position;
      g["weight"] = got.weight;
      if (!e.sees_self) g["next"] = entry(got.position + 1);  // the token the pair's value has seen
      retrieved.append(g);
    }
    r["top"] = retrieved;
    rows.append(r);
  }
  return rows;
}

std::vector<int> tokenize(Model& m, const std::string& text) {
  const Gpt2Tokenizer& tok = m.tokenizer();
  py::gil_scoped_release free;
  return tok.encode(text);
}

std::string detokenize(Model& m, const py::handle& ids) {
  const std::vector<int32_t> checked = token_ids(ids, m.config().vocab_size);
  const Gpt2Tokenizer& tok = m.tokenizer();
  const std::vector<int> as_int(checked.begin(), checked.end());
  Utf8Stream text;
  std::string out = text.feed(checked_argument([&] { return tok.decode(as_int); }));
  return out + text.flush();
}

// ---- sampling -------------------------------------------------------------------------------

SamplerConfig sampler_config(double temperature, int top_k, double top_p, double min_p, double repeat_penalty,
                             int repeat_last_n) {
  const SamplerConfig c{temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n};
  checked_argument([&] { c.validate(); });
  return c;
}

StreamOptions stream_options(int mem_limit, const std::string& evict) {
  StreamOptions o;
  if (mem_limit < 0) throw ArgumentError("mem_limit must be 0 (unbounded) or more", "e.g. mem_limit=256");
  o.memory.max_pairs = mem_limit;
  o.memory.policy = checked_argument([&] { return parse_eviction(evict); });
  return o;
}

// stop=: None, one string, or a list of strings.
std::vector<std::string> stop_strings(const py::object& stop) {
  if (stop.is_none()) return {};
  if (py::isinstance<py::str>(stop)) return {stop.cast<std::string>()};
  try {
    return stop.cast<std::vector<std::string>>();
  } catch (const py::cast_error&) {
    throw py::type_error("stop must be a string or a list of strings");
  }
}

uint64_t seed_of(int64_t seed) {
  if (seed < 0) throw ArgumentError("seed must be 0 or more", "e.g. seed=42");
  return static_cast<uint64_t>(seed);
}

// One generate or stream call: `mosaic sample`'s loop (StreamingSample) on its own stream, its
// tokens made valid UTF-8 text and cut at the stop strings.
class Completion {
 public:
  Completion(ModelPtr model, const std::string& prompt, int max_tokens, const SamplerConfig& sampler, uint64_t seed,
             std::vector<std::string> stop, bool ignore_eos, const StreamOptions& options)
      : model_(std::move(model)), sampler_(sampler), rng_(seed),
        stop_(checked_argument([&] { return StopText(std::move(stop)); })) {
    if (max_tokens < 0) throw ArgumentError("max_tokens must be 0 or more", "e.g. max_tokens=200");
    if (!model_->reads_text())
      throw ArgumentError("generate and stream write text, and this model's vocabulary (" +
                              std::to_string(model_->config().vocab_size) + ") is not GPT-2's",
                          "draw token ids with model.start_stream(): feed(ids), then next_token()");
    const Gpt2Tokenizer& tok = model_->tokenizer();
    py::gil_scoped_release free;
    const std::vector<int> ids = tok.encode(prompt);
    const std::vector<int32_t> start =
        checked_argument([&] { return document_prompt(model_->config(), tok.eot(), tok.vocab_size(), ids); });
    stream_ = make_stream(*model_->lm, options);
    sample_.emplace(*stream_, start, max_tokens, tok.vocab_size(), sampler_, rng_, ignore_eos ? -1 : tok.eot());
  }

  // The next token's text (may be empty: a character not complete yet, or held back as the
  // start of a stop string), or nothing once the sample has ended. Runs without the GIL.
  std::optional<std::string> next() {
    std::lock_guard lock(busy_);
    if (ended_) return std::nullopt;
    const int32_t token = sample_->next();
    if (token < 0) {
      ended_ = true;
      std::string rest = stop_.feed(text_.flush());
      return rest + stop_.flush();
    }
    std::string piece = stop_.feed(text_.feed(model_->tokenizer().token_bytes(token)));
    ended_ = stop_.stopped();
    return piece;
  }

  // generate(): every piece, with a look for Ctrl-C between tokens.
  std::string all() {
    py::gil_scoped_release free;
    std::string text;
    while (const auto piece = next()) {
      text += *piece;
      check_signals();
    }
    return text;
  }

  // stream(): the next piece that holds text.
  std::string next_piece() {
    py::gil_scoped_release free;
    while (const auto piece = next()) {
      if (!piece->empty()) return *piece;
      check_signals();
    }
    throw py::stop_iteration();
  }

 private:
  ModelPtr model_;
  Sampler sampler_;
  Rng rng_;
  StopText stop_;
  Utf8Stream text_;
  std::unique_ptr<TokenStream> stream_;
  std::optional<StreamingSample> sample_;
  bool ended_ = false;
  std::mutex busy_;
};

// mosaic.Stream: a model's stream kept between calls, fed and drawn from at will.
class Stream {
 public:
  Stream(ModelPtr model, uint64_t seed, const StreamOptions& options)
      : model_(std::move(model)), seed_(seed), stream_(make_stream(*model_->lm, options)) {
    // Draws stop at the tokenizer's ids, as generate's do (a padded vocabulary has more).
    draw_limit_ = model_->reads_text() ? model_->tokenizer().vocab_size() : model_->config().vocab_size;
    start();
  }

  std::vector<int32_t> feed(const py::handle& text_or_ids) {
    const bool text = py::isinstance<py::str>(text_or_ids);
    std::vector<int32_t> ids = model_->ids_of(text_or_ids);
    py::gil_scoped_release free;
    std::lock_guard lock(busy_);
    // A text starts after <|endoftext|>, as generate's prompt and `mosaic sample`'s do.
    if (text && stream_->position() == 0) ids.insert(ids.begin(), model_->tokenizer().eot());
    continuation_->feed(ids);
    return ids;
  }

  py::tuple next_token(const SamplerConfig& config) {
    Sampler sampler(config);
    int32_t token = 0;
    {
      py::gil_scoped_release free;
      std::lock_guard lock(busy_);
      token = checked_argument([&] { return continuation_->draw(sampler); });
      continuation_->feed({&token, 1});
    }
    py::object piece = py::none();
    if (model_->reads_text()) piece = py::str(text_.feed(model_->tokenizer().token_bytes(token)));
    return py::make_tuple(token, piece);
  }

  py::array_t<float> logits() {
    std::lock_guard lock(busy_);
    if (!continuation_->logits()) throw ArgumentError("nothing fed yet", "feed the stream some text or tokens first");
    return numpy_copy(continuation_->logits(), {static_cast<py::ssize_t>(model_->config().vocab_size)});
  }

  py::array_t<int> memory_size() {
    std::lock_guard lock(busy_);
    const std::vector<int> n = stream_->state().entries_per_head();
    return numpy_copy(n.data(), {model_->config().n_layer, model_->config().n_head});
  }

  int64_t position() const { return stream_->position(); }

  void reset() {
    std::lock_guard lock(busy_);
    stream_->reset();
    start();
  }

 private:
  // A new stream's state: nothing fed, the generator at its seed.
  void start() {
    rng_.reseed(seed_);
    text_ = Utf8Stream();
    continuation_.emplace(*stream_, rng_, draw_limit_);
  }

  ModelPtr model_;
  uint64_t seed_;
  int draw_limit_ = 0;
  Rng rng_;
  std::unique_ptr<TokenStream> stream_;
  std::optional<Continuation> continuation_;
  Utf8Stream text_;
  std::mutex busy_;
};

// ---- training ------------------------------------------------------------------------------

py::dict train_run(const py::dict& config, const py::object& progress, bool resume) {
  const nlohmann::json changes = python_to_json(config, "the config");
  TrainConfig c;
  checked_argument([&] {
    c.update_from_json(changes, "the config");
    if (resume) c = resumed_config(c.out_dir, {{changes, "the config"}});
    c.validate();
  });
  std::function<void(const nlohmann::json&)> on_record;
  if (!progress.is_none())
    on_record = [&progress](const nlohmann::json& record) {
      py::gil_scoped_acquire gil;
      progress(json_to_python(record));
    };
  TrainResult r;
  std::string checkpoint;
  {
    py::gil_scoped_release free;
    r = train(c, resume, nullptr, on_record);
    checkpoint = resolve_model_path(c.out_dir);
  }
  if (r.interrupted) {  // the trainer caught Ctrl-C itself, to write a checkpoint first
    const std::string what = "training stopped at step " + std::to_string(r.steps) + "; " + checkpoint +
                             " written, continue with mosaic.train(config, resume=True)";
    PyErr_SetString(PyExc_KeyboardInterrupt, what.c_str());
    throw py::error_already_set();
  }
  py::dict d;
  d["steps"] = r.steps;
  d["steps_run"] = r.steps_run;
  d["train_loss"] = r.last_train_loss;
  d["val_loss"] = std::isnan(r.last_val_loss) ? py::none() : py::cast(r.last_val_loss);
  d["out_dir"] = c.out_dir;
  d["checkpoint"] = checkpoint;
  return d;
}

// ---- the module -----------------------------------------------------------------------------

const char* const kSamplingDoc = R"(
temperature: 0 is greedy; top_k: keep the k most likely tokens (0: off); top_p: nucleus mass in
(0, 1] (1: off); min_p: drop tokens below this fraction of the top token's probability (0: off);
repeat_penalty, repeat_last_n: llama.cpp's penalty on recent tokens (1: off). The defaults are
`mosaic sample`'s.)";

void define_errors(py::module_& m) {
  g_error = PyErr_NewExceptionWithDoc("mosaic.Error",
                                      "A mosaic error: .message says what went wrong, .hint what to do; str() gives both.",
                                      PyExc_Exception, nullptr);
  const py::tuple bases = py::make_tuple(py::handle(g_error), py::handle(PyExc_ValueError));
  g_argument_error = PyErr_NewExceptionWithDoc("mosaic.ArgumentError",
                                               "A bad argument: a mosaic.Error that is also a ValueError.",
                                               bases.ptr(), nullptr);
  m.add_object("Error", py::handle(g_error));
  m.add_object("ArgumentError", py::handle(g_argument_error));
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ArgumentError& e) {
      raise_as(g_argument_error, e);
    } catch (const Error& e) {
      raise_as(g_error, e);
    }
  });
}

void define_model(py::module_& m) {
  const SamplerConfig d = kSampleDefaults;
  py::class_<Model, ModelPtr>(m, "Model", "A language model loaded by mosaic.load(): a Memory Mosaic or a GPT.")
      .def_property_readonly("path", [](const Model& x) { return x.path; }, "the model file")
      .def_property_readonly("tokenizer_dir", [](const Model& x) { return x.tokenizer_dir; },
                             "the folder GPT-2's vocabulary is read from (when the model reads text)")
      .def_property_readonly("arch", [](const Model& x) { return x.config().arch; }, "'mosaic' or 'gpt'")
      .def_property_readonly(
          "config",
          [](const Model& x) {
            nlohmann::json j = x.config().to_json();
            j["arch"] = x.config().arch;  // a model file keeps it apart from the config
            return json_to_python(j);
          },
          "the model's config as a dict: arch and the reference's field names, as mosaic.train takes them")
      .def_property_readonly("parameters", [](const Model& x) { return x.lm->params().count(); },
                             "the number of parameters (the tied embedding counted once)")
      .def_property_readonly("vocab_size", [](const Model& x) { return x.config().vocab_size; })
      .def_property_readonly("block_size", [](const Model& x) { return x.config().block_size; })
      .def("__repr__",
           [](const Model& x) {
             const ModelConfig& c = x.config();
             return "<mosaic.Model " + c.arch + ", " + std::to_string(x.lm->params().count()) + " parameters, " +
                    std::to_string(c.n_layer) + " layers x " + std::to_string(c.n_head) + " heads, d=" +
                    std::to_string(c.n_embd) + ", block_size " + std::to_string(c.block_size) + ": " + x.path + ">";
           })
      .def("tokenize", &tokenize, py::arg("text"), "GPT-2 token ids of text (a literal <|endoftext|> becomes its id).")
      .def("detokenize", &detokenize, py::arg("ids"),
           "The text of token ids, as valid UTF-8 (bytes that are not make U+FFFD).")
      .def("logits", &logits, py::arg("tokens"),
           "The logits of the forward pass over token ids: a float32 array (T, V); row t scores the token after tokens[t].")
      .def("evaluate", &evaluate, py::arg("text_or_tokens"), py::arg("context") = py::none(), py::arg("batch") = 8,
           R"(The loss of the model on a text (a document: it starts after <|endoftext|>, as `mosaic eval`
reads one) or on token ids, in windows of `context` tokens in a row (None: the block_size, or the
whole text when shorter), as `mosaic eval --context`. Returns a dict: mean_loss, perplexity,
bits_per_byte (text models), context, windows, tokens_scored, position_loss and position_stderr
(T: the mean loss at each position of the window), losses (windows, T).)")
      .def("attention", &attention, py::arg("text_or_tokens"), py::arg("context") = py::none(),
           py::arg("windows") = 0, py::arg("batch") = 8,
           R"(What each head attends to, as `mosaic attention --text`: the last position's weights over the
window's positions, averaged over the windows of the text (`windows`: at most that many, 0: all),
a float64 array (layers, heads, context). A Memory Mosaic's last position never weighs itself.)")
      .def("explain", &explain, py::arg("text_or_tokens"), py::arg("top") = 3, py::arg("context") = py::none(),
           R"(For each layer, head and position of the text (its first window), the `top` positions it
weighted most, as `mosaic attention --explain`: a list of dicts in layer, head, position order
(layer, head, position, token, top: [{position, weight, token, next}]); `next` is the token a
Memory Mosaic's stored value has seen; `text` entries beside the ids when the model reads text.)")
      .def(
          "generate",
          [](const ModelPtr& self, const std::string& prompt, int max_tokens, double temperature, int top_k, double top_p,
             double min_p, double repeat_penalty, int repeat_last_n, int64_t seed, const py::object& stop,
             bool ignore_eos, int mem_limit, const std::string& evict) {
            Completion c(self, prompt, max_tokens,
                         sampler_config(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n), seed_of(seed),
                         stop_strings(stop), ignore_eos, stream_options(mem_limit, evict));
            return c.all();
          },
          py::arg("prompt") = "", py::arg("max_tokens") = kSampleTokens, py::arg("temperature") = d.temperature,
          py::arg("top_k") = d.top_k, py::arg("top_p") = d.top_p, py::arg("min_p") = d.min_p,
          py::arg("repeat_penalty") = d.repeat_penalty, py::arg("repeat_last_n") = d.repeat_last_n,
          py::arg("seed") = kSampleSeed, py::arg("stop") = py::none(), py::arg("ignore_eos") = false,
          py::arg("mem_limit") = 0, py::arg("evict") = "oldest",
          (std::string(R"(The text that follows prompt (the prompt not included), what `mosaic sample -p PROMPT -n
MAX_TOKENS -s SEED` prints after it: up to max_tokens tokens, ending at <|endoftext|> unless
ignore_eos, or before the first of the `stop` strings. mem_limit, evict: a Memory Mosaic's
memory bound per head and its eviction ('oldest' or 'lru'), as --mem-limit and --evict.)") +
           kSamplingDoc)
              .c_str())
      .def(
          "stream",
          [](const ModelPtr& self, const std::string& prompt, int max_tokens, double temperature, int top_k, double top_p,
             double min_p, double repeat_penalty, int repeat_last_n, int64_t seed, const py::object& stop,
             bool ignore_eos, int mem_limit, const std::string& evict) {
            return std::make_unique<Completion>(
                self, prompt, max_tokens, sampler_config(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n),
                seed_of(seed), stop_strings(stop), ignore_eos, stream_options(mem_limit, evict));
          },
          py::arg("prompt") = "", py::arg("max_tokens") = kSampleTokens, py::arg("temperature") = d.temperature,
          py::arg("top_k") = d.top_k, py::arg("top_p") = d.top_p, py::arg("min_p") = d.min_p,
          py::arg("repeat_penalty") = d.repeat_penalty, py::arg("repeat_last_n") = d.repeat_last_n,
          py::arg("seed") = kSampleSeed, py::arg("stop") = py::none(), py::arg("ignore_eos") = false,
          py::arg("mem_limit") = 0, py::arg("evict") = "oldest",
          "generate(), as an iterator of text pieces (each valid UTF-8) that come as the tokens do; "
          "''.join(them) is generate()'s text.")
      .def(
          "start_stream",
          [](const ModelPtr& self, int64_t seed, int mem_limit, const std::string& evict) {
            return std::make_unique<Stream>(self, seed_of(seed), stream_options(mem_limit, evict));
          },
          py::arg("seed") = kSampleSeed, py::arg("mem_limit") = 0, py::arg("evict") = "oldest",
          "A mosaic.Stream over this model: feed it, draw from it, watch its memory grow.");
}

void define_streams(py::module_& m) {
  const SamplerConfig d = kSampleDefaults;
  py::class_<Completion>(m, "TextStream", "The text pieces of model.stream(), as they come.")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", &Completion::next_piece);
  py::class_<Stream>(m, "Stream",
                     R"(A model's stream (the Memory Mosaic's memories, the GPT's KV cache) kept between calls:
feed() text or token ids, next_token() to draw and feed one, memory_size() to watch the memory.
feed(prompt) then next_token() n times draws what generate(prompt) does with the same seed.)")
      .def("feed", &Stream::feed, py::arg("text_or_tokens"),
           "Feeds text (after <|endoftext|> when it is the first thing fed) or token ids; returns the ids fed.")
      .def(
          "next_token",
          [](Stream& s, double temperature, int top_k, double top_p, double min_p, double repeat_penalty,
             int repeat_last_n) {
            return s.next_token(sampler_config(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n));
          },
          py::arg("temperature") = d.temperature, py::arg("top_k") = d.top_k, py::arg("top_p") = d.top_p,
          py::arg("min_p") = d.min_p, py::arg("repeat_penalty") = d.repeat_penalty,
          py::arg("repeat_last_n") = d.repeat_last_n,
          (std::string(R"(Draws the next token and feeds it: returns (id, text), the text this token completes (valid
UTF-8, '' while a character is split; None when the model reads token ids).)") +
           kSamplingDoc)
              .c_str())
      .def("logits", &Stream::logits, "The logits (V) of the next token.")
      .def("memory_size", &Stream::memory_size,
           "What each head holds now, an int array (layers, heads): a Memory Mosaic's (key, value) pairs, a GPT's "
           "KV-cache entries.")
      .def_property_readonly("position", &Stream::position, "the tokens fed so far")
      .def("reset", &Stream::reset, "Back to a new stream: nothing fed, the generator at its seed.");
}

}  // namespace
}  // namespace mosaic

PYBIND11_MODULE(mosaic, m) {
  using namespace mosaic;
  m.doc() = R"(Memory Mosaics from Python: load, generate from, evaluate, look inside and train models.

    import mosaic
    model = mosaic.load("runs/main")
    print(model.generate("Once upon a time", max_tokens=50, seed=1))
    result = model.evaluate("Once upon a time there was a cat.")
    maps = model.attention("Once upon a time there was a cat.")   # (layers, heads, positions)

Long calls run without the GIL; Ctrl-C interrupts them. See docs/python.md.)";
  define_errors(m);
  define_model(m);
  define_streams(m);
  m.def("load", &load, py::arg("path"), py::arg("tokenizer") = py::none(),
        "Loads a model file (.safetensors: ours, a PyTorch state_dict of the reference, Hugging Face's GPT-2) or a "
        "run folder's newest checkpoint. tokenizer: the folder with GPT-2's encoder.json and vocab.bpe (default: "
        "$MOSAIC_TOKENIZER_DIR, else the installed or checkout copy).");
  m.def("train", &train_run, py::arg("config"), py::arg("progress") = py::none(), py::arg("resume") = false,
        R"(Runs the trainer, as `mosaic train` does, on a config dict (the keys of `mosaic train --help`:
data_dir, out_dir, n_layer, max_iters, ...). progress(record) sees each record of the run's
metrics.jsonl as it is written (a dict: step, split, loss, ...); what it raises ends the run.
resume: continue from out_dir's newest checkpoint. Returns a dict: steps, steps_run, train_loss,
val_loss, out_dir, checkpoint. Ctrl-C writes a checkpoint, then raises KeyboardInterrupt.)");
  m.def("set_threads", [](int n) { checked_argument([&] { set_threads(n); }); }, py::arg("n"),
        "The threads every later call uses (0: all cores), as the -t flag of mosaic.");
}
