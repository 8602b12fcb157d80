// The activation arena: every cache and scratch tensor of a model's forward and backward
// passes, as named views into one allocation (llm.c's ActivationTensors). Layers declare
// theirs in plan(), with their shapes, as they register parameters; the model sizes the arena
// once for the largest (B, T) it will run, prints the total, and passes never allocate.
// Not a tensor library: a view has a size, not a shape; the table keeps the shapes for reading.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/error.hpp"

namespace mosaic {

std::string shape_string(const std::vector<int64_t>& shape);

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

struct ActivationEntry {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0, numel = 0;  // in elements
};

template <class F>
class Activations {
 public:
  // Declares a tensor (any element type I of the same size class is fine: ids go in an
  // int32_t arena of their own). Bound when allocate() runs; slots must outlive the arena.
  void add(std::string name, std::vector<int64_t> shape, Activation<F>* slot) {
    MOSAIC_CHECK(!allocated_, "activation " + name + " planned after allocation", "plan every layer first");
    size_t n = 1;
    for (auto d : shape) n *= static_cast<size_t>(d);
    entries_.push_back({std::move(name), std::move(shape), total_, n});
    slots_.push_back(slot);
    total_ += (n + 15) / 16 * 16;  // 64-byte alignment for every tensor
  }

  // One zeroed allocation; binds every slot.
  void allocate() {
    arena_ = Buffer<F>(total_);
    for (size_t i = 0; i < entries_.size(); ++i) *slots_[i] = {arena_.data() + entries_[i].offset, entries_[i].numel};
    allocated_ = true;
  }

  const std::vector<ActivationEntry>& entries() const { return entries_; }
  size_t bytes() const { return total_ * sizeof(F); }
  // One line per tensor (name, shape, MB), then the total.
  std::string table() const {
    std::string out;
    char line[160];
    for (const auto& e : entries_) {
      std::snprintf(line, sizeof line, "  %-48s %-24s %9.2f MB\n", e.name.c_str(), shape_string(e.shape).c_str(),
                    e.numel * sizeof(F) / 1e6);
      out += line;
    }
    std::snprintf(line, sizeof line, "  %-48s %-24s %9.2f MB\n", "total", "", bytes() / 1e6);
    return out + line;
  }

 private:
  std::vector<ActivationEntry> entries_;
  std::vector<Activation<F>*> slots_;
  Buffer<F> arena_;
  size_t total_ = 0;
  bool allocated_ = false;
};

}  // namespace mosaic
