// The named parameter table: every trainable tensor of a model, by its PyTorch state_dict
// name, as views into two arenas (values, grads). zero_grad is one memset, a checkpoint
// one walk over entries(). Not an optimizer and not a tensor library.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/error.hpp"

namespace mosaic {

// A layer's handle on one parameter: filled in by ParamTable::allocate().
template <class T>
struct Param {
  T* value = nullptr;
  T* grad = nullptr;
};

struct ParamEntry {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0;  // in elements, into the values and grads arenas
  size_t numel = 0;
};

template <class T>
class ParamTable {
 public:
  // Registers a tensor; its slot is bound when allocate() runs. Slots must outlive the table.
  void add(std::string name, std::vector<int64_t> shape, Param<T>* slot) {
    MOSAIC_CHECK(!allocated_, "parameter " + name + " registered after allocation", "register all layers first");
    size_t n = 1;
    for (auto d : shape) n *= static_cast<size_t>(d);
    for (const auto& e : entries_)
      MOSAIC_CHECK(e.name != name, "duplicate parameter name " + name, "layer prefixes must be unique");
    entries_.push_back({std::move(name), std::move(shape), total_, n});
    slots_.push_back(slot);
    total_ += (n + 15) / 16 * 16;  // 64-byte alignment for every tensor
  }

  void allocate() {
    values_.resize(total_);
    grads_.resize(total_);
    for (size_t i = 0; i < entries_.size(); ++i) {
      slots_[i]->value = values_.data() + entries_[i].offset;
      slots_[i]->grad = grads_.data() + entries_[i].offset;
    }
    allocated_ = true;
  }

  const std::vector<ParamEntry>& entries() const { return entries_; }
  const ParamEntry* find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }
  T* value(const ParamEntry& e) { return values_.data() + e.offset; }
  const T* value(const ParamEntry& e) const { return values_.data() + e.offset; }
  T* grad(const ParamEntry& e) { return grads_.data() + e.offset; }
  const T* grad(const ParamEntry& e) const { return grads_.data() + e.offset; }

  // Arena size including alignment padding (padding stays zero in values, grads and moments).
  size_t arena_size() const { return total_; }
  size_t count() const {
    size_t n = 0;
    for (const auto& e : entries_) n += e.numel;
    return n;
  }
  T* values() { return values_.data(); }
  T* grads() { return grads_.data(); }
  void zero_grad() { grads_.zero(); }

 private:
  std::vector<ParamEntry> entries_;
  std::vector<Param<T>*> slots_;
  Buffer<T> values_, grads_;
  size_t total_ = 0;
  bool allocated_ = false;
};

std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace mosaic
