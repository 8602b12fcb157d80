// The named parameter table: every trainable tensor of a model, by its PyTorch state_dict
// name, as views into two arenas (values, grads). zero_grad is one memset, a checkpoint
// one walk over entries(). Not an optimizer and not a tensor library.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/error.hpp"
#include "core/tensor_layout.hpp"

namespace mosaic {

// A layer's handle on one parameter: filled in by ParamTable::allocate().
template <class T>
struct Param {
  T* value = nullptr;
  T* grad = nullptr;
};

using ParamEntry = TensorEntry;

template <class T>
class ParamTable {
 public:
  // Registers a tensor; its slot is bound when allocate() runs. Slots must outlive the table.
  void add(std::string name, std::vector<int64_t> shape, Param<T>* slot) {
    MOSAIC_CHECK(!allocated_, "parameter " + name + " registered after allocation", "register all layers first");
    MOSAIC_CHECK(!layout_.find(name), "duplicate parameter name " + name, "layer prefixes must be unique");
    layout_.add(std::move(name), std::move(shape));
    slots_.push_back(slot);
  }

  void allocate() {
    values_.resize(layout_.size());
    grads_.resize(layout_.size());
    for (size_t i = 0; i < slots_.size(); ++i) {
      slots_[i]->value = values_.data() + entries()[i].offset;
      slots_[i]->grad = grads_.data() + entries()[i].offset;
    }
    allocated_ = true;
  }

  const std::vector<ParamEntry>& entries() const { return layout_.entries(); }
  const ParamEntry* find(const std::string& name) const { return layout_.find(name); }
  T* value(const ParamEntry& e) { return values_.data() + e.offset; }
  const T* value(const ParamEntry& e) const { return values_.data() + e.offset; }
  T* grad(const ParamEntry& e) { return grads_.data() + e.offset; }
  const T* grad(const ParamEntry& e) const { return grads_.data() + e.offset; }

  // Arena size including alignment padding (padding stays zero in values, grads and moments).
  size_t arena_size() const { return layout_.size(); }
  size_t count() const {
    size_t n = 0;
    for (const auto& e : entries()) n += e.numel;
    return n;
  }
  T* values() { return values_.data(); }
  T* grads() { return grads_.data(); }
  void zero_grad() { grads_.zero(); }

 private:
  TensorLayout layout_;
  std::vector<Param<T>*> slots_;
  Buffer<T> values_, grads_;
  bool allocated_ = false;
};


}  // namespace mosaic
