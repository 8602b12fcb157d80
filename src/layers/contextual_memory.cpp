// Contextual memory: its levels side by side in one (B, T, levels C) buffer, then c_proj.
#include "layers/contextual_memory.hpp"

namespace mosaic {

template <class F>
ContextualMemory<F>::ContextualMemory(int n_embd, int n_head, bool bias, const ContextualMemoryOptions& o)
    : C(n_embd), H(n_head), prob_drop(o.prob_dropout, kProbSite) {
  MemoryLevelOptions level;
  level.keys = {.scale_power = 1, .kernel_beta_upbound = o.kernel_beta_upbound, .fixed_decay = o.fixed_key_decay};
  if (o.short_term == 0) {  // v1: one level over every earlier pair
    levels.emplace_back(n_embd, n_head, bias, level);
  } else {
    level.keys.scaled = false;  // v2: the bandwidth carries the sharpness
    level.keys.gated = o.gated_keys;
    level.abs_value_scale = true;
    level.bandwidth = true;
    level.adaptive = o.adaptive;
    level.visible = {1, o.short_term - 1};
    levels.emplace_back(n_embd, n_head, bias, level);
    if (o.long_delay_max > 0) {
      level.visible = {o.long_delay_eval, Visible::kUnbounded};
      level.delay_min = o.long_delay_min;
      level.delay_max = o.long_delay_max;
      levels.emplace_back(n_embd, n_head, bias, level);
    }
  }
  c_proj = Linear<F>(width(), n_embd, bias);
}

template <class F>
std::string ContextualMemory<F>::level_prefix(const std::string& prefix, size_t level) const {
  if (levels.size() == 1 && levels[0].options.visible == Visible::BeforeSelf) return prefix;
  return prefix + (level == 0 ? "short_term." : "long_term.");
}

template <class F>
void ContextualMemory<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  for (size_t l = 0; l < levels.size(); ++l) levels[l].register_params(table, level_prefix(prefix, l));
  c_proj.register_params(table, prefix + "c_proj.");
}

template <class F>
void ContextualMemory<F>::plan(Activations<F>& acts, const std::string& prefix, int batch, int time) {
  for (size_t l = 0; l < levels.size(); ++l) levels[l].plan(acts, level_prefix(prefix, l), batch, time);
  c_proj.plan(acts, prefix + "c_proj.", static_cast<int64_t>(batch) * time);
  acts.add(prefix + "retrieved", {batch, time, width()}, &retrieved);
  acts.add(prefix + "dretrieved", {batch, time, width()}, &dretrieved);
}

template <class F>
void ContextualMemory<F>::set_pass(uint64_t key, bool training) {
  prob_drop.set_pass(key, training);
  for (auto& level : levels) level.set_pass(key, training);
}

template <class F>
const F* ContextualMemory<F>::forward(const F* x, int batch, int time) {
  B = batch;
  T = time;
  for (size_t l = 0; l < levels.size(); ++l) levels[l].forward(retrieved.data() + l * C, width(), x, B, T, prob_drop, slice0(l));
  return c_proj.forward(retrieved.data(), static_cast<int64_t>(B) * T);
}

template <class F>
void ContextualMemory<F>::backward(const F* dy, F* dx) {
  dretrieved.zero();
  c_proj.backward(dy, dretrieved.data());
  for (size_t l = 0; l < levels.size(); ++l) levels[l].backward(dretrieved.data() + l * C, width(), dx, prob_drop, slice0(l));
}

template <class F>
typename ContextualMemory<F>::Stream ContextualMemory<F>::start_stream(const StreamSettings& settings) const {
  Stream s;
  for (const auto& level : levels) s.levels.push_back(level.start_stream(settings));
  s.retrieved.resize(static_cast<size_t>(settings.max_rows) * width());
  return s;
}

template <class F>
void ContextualMemory<F>::step(F* y, const F* x, StreamSlices<Stream> slices) const {
  Stream& lead = *slices.front().stream;  // its scratch serves every slice
  for (size_t l = 0; l < levels.size(); ++l)
    levels[l].step(lead.retrieved.data() + l * C, width(), x, slices_of(slices, [l](Stream& s) -> auto& { return s.levels[l]; }));
  c_proj.apply_step(y, lead.retrieved.data(), total_rows(slices), slices.size());
}

template struct ContextualMemory<float>;
template struct ContextualMemory<double>;

}  // namespace mosaic
