// The activation arena: every cache and scratch tensor of a model's forward and backward
// passes, as named views into one allocation (llm.c's ActivationTensors). Layers declare
// theirs in plan(), with their shapes, as they register parameters; the model sizes the arena
// once for the largest (B, T) it will run, prints the total, and passes never allocate.
// Not a tensor library: a view has a size, not a shape; the table keeps the shapes for reading.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/error.hpp"
#include "core/tensor_layout.hpp"

namespace mosaic {

// A layer's handle on one activation tensor: filled in by Activations::allocate().
template <class F>
struct Activation {
  F* ptr = nullptr;
  size_t n = 0;

  F* data() { return ptr; }
  const F* data() const { return ptr; }
  size_t size() const { return n; }
  F& operator[](size_t i) { return ptr[i]; }
  const F& operator[](size_t i) const { return ptr[i]; }
  void zero() {
    if (n) std::memset(static_cast<void*>(ptr), 0, n * sizeof(F));
  }
};

template <class F>
class Activations {
 public:
  // Declares a tensor; bound when allocate() runs. Slots must outlive the arena.
  void add(std::string name, std::vector<int64_t> shape, Activation<F>* slot) {
    MOSAIC_CHECK(!allocated_, "activation " + name + " planned after allocation", "plan every layer first");
    layout_.add(std::move(name), std::move(shape));
    slots_.push_back(slot);
  }

  // One zeroed allocation; binds every slot.
  void allocate() {
    arena_ = Buffer<F>(layout_.size());
    for (size_t i = 0; i < slots_.size(); ++i) {
      const TensorEntry& e = layout_.entries()[i];
      *slots_[i] = {arena_.data() + e.offset, e.numel};
    }
    allocated_ = true;
  }

  const std::vector<TensorEntry>& entries() const { return layout_.entries(); }
  size_t bytes() const { return layout_.size() * sizeof(F); }
  // One line per tensor (name, shape, MB), then the total.
  std::string table() const {
    std::string out;
    char line[160];
    for (const auto& e : layout_.entries()) {
      std::snprintf(line, sizeof line, "  %-48s %-24s %9.2f MB\n", e.name.c_str(), shape_string(e.shape).c_str(),
                    e.numel * sizeof(F) / 1e6);
      out += line;
    }
    std::snprintf(line, sizeof line, "  %-48s %-24s %9.2f MB\n", "total", "", bytes() / 1e6);
    return out + line;
  }

 private:
  TensorLayout layout_;
  std::vector<Activation<F>*> slots_;
  Buffer<F> arena_;
  bool allocated_ = false;
};

}  // namespace mosaic
