// Named tensors laid out one after another in one flat arena, each starting 16 elements
// (64 bytes of floats) after a multiple of 16: the bookkeeping shared by the parameter table
// and the activation arena. Not an allocator: the owner allocates layout.size() elements.
#pragma once
#include <cstdint>
#include <cstddef>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace mosaic {

struct TensorEntry {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0;  // in elements, into the arena
  size_t numel = 0;
};

std::string shape_string(const std::vector<int64_t>& shape);

class TensorLayout {
 public:
  static constexpr size_t kMaxElements = size_t{1} << 40;  // 4 TiB of floats: no machine has it

  const TensorEntry& add(std::string name, std::vector<int64_t> shape) {
    size_t n = 1;  // a product that wraps would lay out a tensor smaller than its shape
    for (auto d : shape)
      MOSAIC_CHECK(d >= 0 && !__builtin_mul_overflow(n, static_cast<size_t>(d), &n) && n <= kMaxElements,
                   "tensor " + name + " of shape " + shape_string(shape) + " is too large", "check the model's sizes");
    MOSAIC_CHECK(total_ + n <= kMaxElements, "tensor " + name + " does not fit in the arena", "check the model's sizes");
    entries_.push_back({std::move(name), std::move(shape), total_, n});
    total_ += (n + 15) / 16 * 16;
    return entries_.back();
  }
  const std::vector<TensorEntry>& entries() const { return entries_; }
  const TensorEntry* find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }
  size_t size() const { return total_; }  // elements, alignment padding included

 private:
  std::vector<TensorEntry> entries_;
  size_t total_ = 0;
};

}  // namespace mosaic
