// Loading and saving weights by state_dict name with shape checks; run-folder names.
#include "io/model_io.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/json_value.hpp"
#include "models/factory.hpp"

namespace mosaic {

namespace fs = std::filesystem;

// A model whose weights hold NaN or Inf computes nothing meaningful: refused at the door.
static void check_finite(const safetensors::Reader& file, const std::string& name, const std::vector<float>& data) {
  size_t bad = 0;
  for (float v : data) bad += !std::isfinite(v);
  MOSAIC_CHECK(bad == 0, file.path() + ": tensor " + name + " holds " + std::to_string(bad) + " non-finite values (NaN or Inf)",
               "the run diverged before this file was written, or the file is damaged: use an earlier checkpoint");
}

// Hugging Face's GPT-2 (GPT2LMHeadModel, GPT2Model): nanoGPT's modules under "transformer."
// or no prefix, but Conv1D weights stored (in, out), the transpose of nn.Linear's (out, in).
// The prefix when the file has that layout (c_attn's weight is (C, 3C), not (3C, C)).
static std::optional<std::string> hf_gpt2_prefix(const safetensors::Reader& file) {
  for (const std::string p : {"transformer.", ""}) {
    if (!file.has(p + "wte.weight") || !file.has(p + "h.0.attn.c_attn.weight")) continue;
    const auto& wte = file.info(p + "wte.weight").shape;
    const auto& w = file.info(p + "h.0.attn.c_attn.weight").shape;
    if (wte.size() == 2 && w.size() == 2 && w[0] == wte[1] && w[1] % 3 == 0 && w[1] / 3 == wte[1]) return p;
  }
  return std::nullopt;
}

static bool is_conv1d_weight(const std::string& name) {
  for (const char* s : {"attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"})
    if (name.ends_with(s)) return true;
  return false;
}

// A GPT state_dict holds no head count: Hugging Face keeps it in config.json beside the
// weights; without one, a GPT-2-family model (head size 64) is assumed for that layout.
static int gpt_head_count(const safetensors::Reader& file, int n_embd, bool hf_layout) {
  const fs::path beside = fs::path(file.path()).parent_path() / "config.json";
  std::ifstream in(beside);
  const std::string text = in.good() ? std::string(std::istreambuf_iterator<char>(in), {}) : "";
  if (!text.empty() && json_nesting_depth(text) <= kMaxJsonDepth) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object() && j.contains("n_head") && j["n_head"].is_number_integer()) return j["n_head"].get<int>();
  }
  MOSAIC_CHECK(hf_layout && n_embd % 64 == 0,
               file.path() + ": a plain GPT state_dict does not record n_head, and no config.json beside it does",
               "put Hugging Face's config.json (with n_head) next to the file, or add __metadata__ {\"arch\": "
               "\"gpt\", \"config\": \"{...GPTConfig fields...}\"} to it");
  return n_embd / 64;
}

// A plain PyTorch state_dict saved with safetensors has no config: read it off the shapes.
static ModelConfig infer_model_config(const safetensors::Reader& file) {
  const auto hf = hf_gpt2_prefix(file);
  const bool gpt = hf || file.has("transformer.wte.weight") || file.has("transformer.wpe.weight");
  const std::string root = hf ? *hf : gpt ? "transformer." : "mosaic.";
  const std::string wte = file.has(root + "wte.weight") ? root + "wte.weight" : "lm_head.weight";
  MOSAIC_CHECK(file.has(wte), file.path() + ": no model config in the metadata and no embedding to infer it from",
               "expected a mosaic checkpoint, or a PyTorch state_dict of MemoryMosaic or GPT");
  // A dimension read off a tensor, checked: the shapes of a file are input like any other.
  auto dim = [&](const std::string& name, size_t rank, size_t i) {
    const auto& shape = file.info(name).shape;
    MOSAIC_CHECK(shape.size() == rank && shape[i] > 0 && shape[i] <= (1 << 30),
                 file.path() + ": tensor " + name + " has shape " + shape_string(shape) + ", not " + std::to_string(rank) + "-D",
                 "the file is not a state_dict of MemoryMosaic or GPT");
    return static_cast<int>(shape[i]);
  };
  ModelConfig c;
  c.arch = gpt ? "gpt" : "mosaic";
  c.vocab_size = dim(wte, 2, 0);
  c.n_embd = dim(wte, 2, 1);
  c.n_layer = 0;
  while (file.has(root + "h." + std::to_string(c.n_layer) + ".ln_1.weight")) ++c.n_layer;
  c.bias = file.has(root + "h.0.ln_1.bias");
  if (gpt) {
    c.n_head = gpt_head_count(file, c.n_embd, hf.has_value());
    MOSAIC_CHECK(file.has(root + "wpe.weight"), file.path() + ": a GPT state_dict without wpe.weight",
                 "the file is incomplete");
    c.block_size = dim(root + "wpe.weight", 2, 0);
    return c;
  }
  const std::string pk = "mosaic.h.0.mlp.P_k";  // (pmem_count, 1, H, P, hs)
  MOSAIC_CHECK(file.has(pk), file.path() + ": a Memory Mosaic state_dict without " + pk, "the file is incomplete");
  c.pmem_count = dim(pk, 5, 0);
  c.n_head = dim(pk, 5, 2);
  c.pmem_size = dim(pk, 5, 3);
  const std::string coef = "mosaic.h.0.attn.k_featurizer.leaky_avg.coef";
  if (file.has(coef)) c.block_size = dim(coef, 2, 0);
  return c;
}

ModelConfig read_model_config(const safetensors::Reader& file) {
  const auto& meta = file.metadata();
  auto config_text = meta.find("config");
  if (config_text == meta.end()) {
    ModelConfig inferred = infer_model_config(file);
    inferred.validate();
    return inferred;
  }
  ModelConfig config;
  config.arch = file.metadata_or("arch", "mosaic");
  const auto j = parse_json(config_text->second, file.path() + ": the model config in the metadata",
                            "the file header is damaged");
  config.update_from_json(j, file.path());
  config.validate();
  return config;
}

// Tensors of a PyTorch state_dict that are not parameters: the tied head (the same tensor as
// wte.weight) and the Memory Mosaic's constant buffers (leaky-average coefficients, causal mask).
static bool is_reference_buffer(const std::string& name) {
  return name == "lm_head.weight" || name.ends_with(".leaky_avg.coef") || name.ends_with(".attn.bias");
}

// How a file stores the model's parameters: under our state_dict names after `prefix`, or in
// Hugging Face's GPT-2 layout after hf_prefix (names without our "transformer.", Conv1D
// weights transposed; attn.bias / attn.masked_bias are causal masks, lm_head.weight is wte).
struct FileLayout {
  std::string prefix;
  std::optional<std::string> hf_prefix;
};

struct TensorSource {
  std::string name;  // in the file
  bool transposed = false;
};

// Where parameter e lives in the file, its shape checked: Error when missing or mis-shaped.
static TensorSource source_of(const safetensors::Reader& file, const ParamEntry& e, const FileLayout& layout) {
  TensorSource s;
  std::string lm_head = layout.prefix + "lm_head.weight";
  if (layout.hf_prefix) {
    const std::string ours = "transformer.";
    s.name = *layout.hf_prefix + e.name.substr(e.name.starts_with(ours) ? ours.size() : 0);
    s.transposed = is_conv1d_weight(e.name);
    lm_head = "lm_head.weight";
  } else {
    s.name = layout.prefix + e.name;
  }
  // PyTorch's safetensors export keeps one of two tied tensors: wte may live as lm_head only.
  if (!file.has(s.name) && e.name.ends_with("wte.weight") && file.has(lm_head)) s.name = lm_head;
  MOSAIC_CHECK(file.has(s.name), file.path() + ": missing tensor " + s.name,
               layout.hf_prefix ? "the file is not a complete GPT-2 state_dict"
                                : "the file was written for another architecture or config");
  const auto& shape = file.info(s.name).shape;
  const std::vector<int64_t> expected = s.transposed ? std::vector<int64_t>{e.shape[1], e.shape[0]} : e.shape;
  MOSAIC_CHECK(shape == expected,
               file.path() + ": tensor " + s.name + " has shape " + shape_string(shape) + ", the model expects " +
                   shape_string(expected),
               "the file's config does not match the model's");
  return s;
}

// Every parameter is in the file with its shape, and every tensor of the file is a parameter
// or a buffer the reference keeps beside them. Reads names and shapes only.
static void check_tensors(const safetensors::Reader& file, const ParamTable<float>& table, const FileLayout& layout) {
  std::vector<std::string> used;
  for (const auto& e : table.entries()) used.push_back(source_of(file, e, layout).name);
  for (const auto& name : file.names()) {
    if (std::find(used.begin(), used.end(), name) != used.end()) continue;
    if (layout.hf_prefix) {
      if (name == "lm_head.weight" || name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias")) continue;
    } else if (name.rfind(layout.prefix, 0) != 0 || is_reference_buffer(name.substr(layout.prefix.size()))) {
      continue;
    }
    throw Error(file.path() + ": tensor " + name + " is not a parameter of " + (layout.hf_prefix ? "GPT-2" : "this model"),
                "the file was written for another architecture or config");
  }
}

static void copy_tensors(const safetensors::Reader& file, ParamTable<float>& table, const FileLayout& layout) {
  for (const auto& e : table.entries()) {
    const TensorSource s = source_of(file, e, layout);
    const std::vector<float> data = file.read_f32(s.name);
    check_finite(file, s.name, data);
    float* dst = table.value(e);
    if (!s.transposed) {
      std::copy(data.begin(), data.end(), dst);
    } else {  // (in, out) -> (out, in)
      const int64_t rows = e.shape[0], cols = e.shape[1];
      for (int64_t i = 0; i < cols; ++i)
        for (int64_t o = 0; o < rows; ++o) dst[o * cols + i] = data[i * rows + o];
    }
  }
}

void load_parameters(const safetensors::Reader& file, ParamTable<float>& table, const std::string& prefix) {
  const FileLayout layout{prefix, std::nullopt};
  check_tensors(file, table, layout);
  copy_tensors(file, table, layout);
}

// PyTorch's MemoryMosaic also keeps two buffers per layer in its state_dict; writing them
// lets `model.load_state_dict(safetensors.torch.load_file(path))` run with strict=True.
static void add_reference_buffers(safetensors::Writer& out, const ModelConfig& c) {
  if (c.arch != "mosaic") return;
  const int64_t T = c.block_size;
  std::vector<float> coef(T * T, 0.0f);  // LeakyAvg.coef: -(i - j) on and below the diagonal
  std::vector<uint8_t> mask(T * T, 0);   // ContextMem.bias: tril(ones, diagonal=-1)
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      coef[i * T + j] = static_cast<float>(-(i - j));
      mask[i * T + j] = j < i;
    }
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string h = "mosaic.h." + std::to_string(l) + ".";
    out.add_f32(h + "attn.k_featurizer.leaky_avg.coef", {T, T}, coef.data());
    out.add_f32(h + "mlp.k_featurizer.leaky_avg.coef", {T, T}, coef.data());
    out.add(h + "attn.bias", safetensors::DType::BOOL, {1, 1, T, T}, std::as_bytes(std::span(mask)));
  }
}

void save_model(const std::string& path, const LanguageModel<float>& model,
                const std::map<std::string, std::string>& extra_metadata) {
  safetensors::Writer out;
  out.set_metadata("format", kCheckpointFormat);
  out.set_metadata("arch", model.config().arch);
  out.set_metadata("config", model.config().to_json().dump());
  for (const auto& [k, v] : extra_metadata) out.set_metadata(k, v);
  const auto& params = model.params();
  for (const auto& e : params.entries()) out.add_f32(e.name, e.shape, params.value(e));
  const std::string wte = model.config().arch == "gpt" ? "transformer.wte.weight" : "mosaic.wte.weight";
  const auto* tied = params.find(wte);
  out.add_f32("lm_head.weight", tied->shape, params.value(*tied));
  add_reference_buffers(out, model.config());
  out.write(path);
}

std::unique_ptr<LanguageModel<float>> load_model(const std::string& path) {
  const auto file = safetensors::Reader::open(path);
  const FileLayout layout{"", hf_gpt2_prefix(file)};
  // The file is checked against the model's names and shapes before the weights are allocated:
  // a 200-byte file whose config claims a vast vocabulary must not cost 64 GiB first.
  auto model = make_model<float>(read_model_config(file),
                                 [&](const ParamTable<float>& table) { check_tensors(file, table, layout); });
  copy_tensors(file, model->params(), layout);
  return model;
}

std::string checkpoint_model_path(const std::string& out_dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "ckpt_%07lld.safetensors", static_cast<long long>(step));
  return (fs::path(out_dir) / name).string();
}

std::string checkpoint_state_path(const std::string& out_dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "ckpt_%07lld.state.safetensors", static_cast<long long>(step));
  return (fs::path(out_dir) / name).string();
}

std::vector<int64_t> list_checkpoints(const std::string& out_dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(out_dir, ec)) {
    const std::string name = entry.path().filename().string();
    long long step = 0;
    char tail[32] = {0};
    if (std::sscanf(name.c_str(), "ckpt_%lld.%31s", &step, tail) == 2 && std::strcmp(tail, "state.safetensors") == 0 &&
        fs::exists(checkpoint_model_path(out_dir, step)))
      steps.push_back(step);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::string resolve_model_path(const std::string& file_or_dir) {
  if (!fs::is_directory(file_or_dir)) {
    MOSAIC_CHECK(fs::exists(file_or_dir), "model " + file_or_dir + " does not exist",
                 "pass a .safetensors file or a run folder of mosaic train");
    return file_or_dir;
  }
  auto steps = list_checkpoints(file_or_dir);
  MOSAIC_CHECK(!steps.empty(), "no checkpoint in " + file_or_dir, "train first: mosaic train --out_dir " + file_or_dir);
  return checkpoint_model_path(file_or_dir, steps.back());
}

}  // namespace mosaic
