// ModelConfig's field table, JSON in and out through it, and validation.
#include "models/config.hpp"

#include <nlohmann/json.hpp>

#include "core/config_table.hpp"
#include "core/error.hpp"

namespace mosaic {

namespace {

using M = ModelConfig;

bool never(const M&) { return false; }
bool mosaic_only(const M& c) { return c.arch == "mosaic"; }
// Whether a field differs from its default: a v2 key given to a v1 model is written back as given.
template <auto member>
bool changed(const M& c) {
  static const M defaults;
  return c.*member != defaults.*member;
}
template <auto member>
bool levels_or_changed(const M& c) { return c.memory_levels() || changed<member>(c); }
// The slots' sizes are left out of a SwiGLU model's config unless set.
template <auto member>
bool slots_or_changed(const M& c) { return c.pmem_kind == "slots" || changed<member>(c); }

// Size bounds: above them the layers' index arithmetic (4 n_embd^2 in int, T^2 per head in
// int64) and any machine's memory give out; the largest published models stay well inside.
// Keys whose `written` rule is not null are written only where they differ from the defaults,
// so that a nanoMosaics config stays the reference's.
constexpr ConfigField<M> kFields[] = {
    {.key = "arch", .member = &M::arch, .meaning = "mosaic (Memory Mosaic) or gpt (the GPT-2 baseline)",
     .written = never},  // a model file keeps it apart; TrainConfig::to_json writes it
    {"block_size", &M::block_size, "context length T in tokens", between(1, 1 << 20)},
    {"vocab_size", &M::vocab_size, "vocabulary size V (GPT-2's 50257 padded to 50304)", between(1, 1 << 24)},
    {"n_layer", &M::n_layer, "blocks L", between(1, 1 << 10)},
    {"n_head", &M::n_head, "heads H per block; must divide n_embd", at_least(1)},
    {"n_embd", &M::n_embd, "channels C", between(1, 1 << 14)},
    {.key = "pmem_size", .member = &M::pmem_size, .meaning = "persistent memory slots P per head (mosaic only)",
     .range = between(1, 1 << 20), .applies = mosaic_only, .written = slots_or_changed<&M::pmem_size>},
    {.key = "pmem_count", .member = &M::pmem_count, .meaning = "persistent memories per block (mosaic only)",
     .range = between(1, 1 << 10), .applies = mosaic_only, .written = slots_or_changed<&M::pmem_count>},
    {"bias", &M::bias, "biases in the linear layers and LayerNorms"},
    {"dropout", &M::dropout,
     "nanoGPT's one dropout rate: embeddings, probabilities, branch outputs (the paper: 0 for language, 0.05 on RegBench)",
     rate()},
    {.key = "ic_dropout", .member = &M::ic_dropout,
     .meaning = "dropout of the attention and memory probabilities (StackAssoMem); -1: dropout's rate",
     .range = {.lo = 0, .hi = 1, .hi_open = true, .unset = -1},
     .written = [](const M& c) { return c.ic_dropout >= 0; }},
    {.key = "hd_dropout", .member = &M::hd_dropout,
     .meaning = "dropout of the residual branches' outputs (StackAssoMem); -1: dropout's rate",
     .range = {.lo = 0, .hi = 1, .hi_open = true, .unset = -1},
     .written = [](const M& c) { return c.hd_dropout >= 0; }},
    {.key = "init", .member = &M::init,
     .meaning = "nanogpt (nanoMosaics, GPT-2), fanin (StackAssoMem: N(0, 1/sqrt(fan_in)) matrices) or v2 "
                "(Memory Mosaics v2: N(0, 1/sqrt(2 d (l+1))) clipped at 3 sigma)",
     .written = [](const M& c) { return c.init != "nanogpt"; }},
    {.key = "scale_logits", .member = &M::scale_logits, .meaning = "logits times 1/sqrt(n_embd) (StackAssoMem)",
     .written = [](const M& c) { return c.scale_logits; }},
    {.key = "kernel_beta_upbound", .member = &M::kernel_beta_upbound,
     .meaning = "> 0: key scale exp(s min(10 key_scale, this)), StackAssoMem's 5; 0: nanoMosaics' clamp at ln 65535",
     .range = between(0, 11), .written = [](const M& c) { return c.kernel_beta_upbound > 0; }},
    {.key = "key_decay", .member = &M::key_decay,
     .meaning = "the contextual memory's leaky-average decay fixed at this value in every head, not trained "
                "(figure 15's sweep); -1: learned per head",
     .range = {.lo = 0, .hi = 1, .hi_open = true, .unset = -1}, .applies = mosaic_only,
     .written = [](const M& c) { return c.key_decay >= 0; }},
    {.key = "pos_encoding", .member = &M::pos_encoding,
     .meaning = "GPT positions: learned (GPT-2's, when empty), rope or alibi; a Memory Mosaic has none",
     .written = [](const M& c) { return !c.pos_encoding.empty(); }},
    {.key = "short_term_window", .member = &M::short_term_window,
     .meaning = "v2: > 0 splits the contextual memory into a short-term memory over the last h - 1 pairs and a "
                "long-term memory (the paper's h: 256); 0: v1's one memory",
     .range = between(0, 1 << 20), .applies = mosaic_only, .written = changed<&M::short_term_window>},
    {.key = "long_term_delay_min", .member = &M::long_term_delay_min,
     .meaning = "v2: the long-term memory's delay m in training is uniform in [min, max] per pass (the paper: 64)",
     .range = between(1, 1 << 20), .applies = mosaic_only, .written = levels_or_changed<&M::long_term_delay_min>},
    {.key = "long_term_delay_max", .member = &M::long_term_delay_max,
     .meaning = "v2: the largest training delay m (the paper: 256); 0: no long-term memory",
     .range = between(0, 1 << 20), .applies = mosaic_only, .written = levels_or_changed<&M::long_term_delay_max>},
    {.key = "long_term_delay", .member = &M::long_term_delay,
     .meaning = "v2: the long-term memory's delay m at inference and evaluation (the paper: 64)",
     .range = between(1, 1 << 20), .applies = mosaic_only, .written = levels_or_changed<&M::long_term_delay>},
    {.key = "adaptive_bandwidth", .member = &M::adaptive_bandwidth,
     .meaning = "v2: beta = beta1 n^alpha + beta0 for a query seeing n pairs; false: beta1 + beta0",
     .applies = mosaic_only, .written = levels_or_changed<&M::adaptive_bandwidth>},
    {.key = "key_gate", .member = &M::key_gate,
     .meaning = "v2: gated time-variant keys (exp(W_g x) gate, exp(-|W_lambda x|) decay); false: v1's leaky average",
     .applies = mosaic_only, .written = levels_or_changed<&M::key_gate>},
    {.key = "pmem_kind", .member = &M::pmem_kind,
     .meaning = "the persistent memory: slots (v1's learned key/value slots) or swiglu (v2: W2(SiLU(W1 x) W3 x))",
     .applies = mosaic_only, .written = [](const M& c) { return c.pmem_kind != "slots"; }},
    {.key = "swiglu_hidden", .member = &M::swiglu_hidden,
     .meaning = "the SwiGLU persistent memory's hidden width; 0: 8 n_embd / 3 rounded up to 8",
     .range = between(0, 1 << 20), .applies = mosaic_only,
     .written = [](const M& c) { return c.pmem_kind == "swiglu" || changed<&M::swiglu_hidden>(c); }},
    {.key = "leaky_cuda", .member = std::monostate{},
     .meaning = "the reference's switch between two equal leaky-average implementations: ignored"},
};

}  // namespace

std::span<const ConfigField<ModelConfig>> ModelConfig::fields() { return kFields; }

void ModelConfig::validate() const {
  MOSAIC_CHECK(arch == "mosaic" || arch == "gpt", "unknown arch '" + arch + "'", "use \"mosaic\" or \"gpt\"");
  check_ranges(fields(), *this);
  MOSAIC_CHECK(n_embd % n_head == 0,
               "n_embd " + std::to_string(n_embd) + " is not divisible by n_head " + std::to_string(n_head),
               "pick n_head dividing n_embd");
  if (arch == "mosaic")
    MOSAIC_CHECK(pos_encoding.empty() || pos_encoding == "none", "pos_encoding '" + pos_encoding + "' for a Memory Mosaic",
                 "the Memory Mosaic has no positional encoding: leave pos_encoding out");
  else
    MOSAIC_CHECK(pos_encoding.empty() || pos_encoding == "learned" || pos_encoding == "rope" || pos_encoding == "alibi",
                 "unknown pos_encoding '" + pos_encoding + "'", "use \"learned\" (GPT-2), \"rope\" or \"alibi\"");
  MOSAIC_CHECK(pos_encoding != "rope" || head_size() % 2 == 0,
               "rope needs an even head size, not " + std::to_string(head_size()), "pick n_head so that n_embd / n_head is even");
  MOSAIC_CHECK(init == "nanogpt" || init == "fanin" || init == "v2", "unknown init '" + init + "'",
               "use \"nanogpt\" (nanoMosaics, GPT-2), \"fanin\" (StackAssoMem, the RegBench model) or \"v2\" "
               "(Memory Mosaics v2: clipped N(0, 1/sqrt(2 d (l+1))))");
  MOSAIC_CHECK(pmem_kind == "slots" || pmem_kind == "swiglu", "unknown pmem_kind '" + pmem_kind + "'",
               "use \"slots\" (v1's persistent memory) or \"swiglu\" (v2's)");
  MOSAIC_CHECK(key_decay < 0 || !memory_levels() || !key_gate, "key_decay with v2's gated keys",
               "gated keys choose their decay per step from the input: set key_gate false to fix the decay");
  if (memory_levels()) {
    MOSAIC_CHECK(short_term_window >= 2, "short_term_window " + std::to_string(short_term_window) + " sees no pair",
                 "the short-term memory reads the last h - 1 pairs: use h >= 2 (the paper: 256)");
    MOSAIC_CHECK(long_term_delay_max == 0 || long_term_delay_min <= long_term_delay_max,
                 "long_term_delay_min " + std::to_string(long_term_delay_min) + " above long_term_delay_max " +
                     std::to_string(long_term_delay_max),
                 "the training delay is drawn from [min, max] (the paper: 64 and 256); max 0 removes the long-term memory");
  }
}

void ModelConfig::update_from_json(const nlohmann::json& j, const std::string& source) {
  MOSAIC_CHECK(j.is_object(), source + ": model config is not a JSON object", "expected {\"n_layer\": ..., ...}");
  for (const auto& [key, value] : j.items()) {
    const auto* field = find_field(fields(), key);
    if (!field) throw Error(source + ": unknown model config key '" + key + "'", "known keys: " + known_keys(fields()));
    read_field(*field, *this, value, source);
  }
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  write_fields(j, fields(), *this);
  return j;
}

}  // namespace mosaic
