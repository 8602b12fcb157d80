// A stream's state as named tensors: what a memory file holds (io/memory_file.hpp writes and
// reads it as safetensors). Each layer's stream puts its pieces under its own prefix and takes
// them back with the shapes its model expects; a missing name, another type or another shape is
// an Error with a hint. Not a tensor library and not a file format: bytes in, bytes out.
// Shapes: as each layer declares them; -1 in an expected shape accepts any length on that axis.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.hpp"

namespace mosaic {

class StreamState {
 public:
  enum class Type { F32, F64, I32, I64 };
  struct Tensor {
    Type type = Type::F32;
    std::vector<int64_t> shape;
    std::span<const std::byte> bytes;  // into the state's own copy, or into the file it was read from
  };

  template <class T>
  static constexpr Type type_of() {
    if constexpr (std::is_same_v<T, float>) return Type::F32;
    else if constexpr (std::is_same_v<T, double>) return Type::F64;
    else if constexpr (std::is_same_v<T, int32_t>) return Type::I32;
    else {
      static_assert(std::is_same_v<T, int64_t>, "a stream state holds float, double, int32 or int64");
      return Type::I64;
    }
  }
  static size_t type_size(Type t) { return t == Type::F32 || t == Type::I32 ? 4 : 8; }
  static const char* type_name(Type t) {
    static const char* names[] = {"F32", "F64", "I32", "I64"};
    return names[static_cast<int>(t)];
  }

  // Copies numel(shape) elements from data.
  template <class T>
  void put(const std::string& name, std::vector<int64_t> shape, const T* data) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    auto& copy = owned_.emplace_back(static_cast<size_t>(n) * sizeof(T));
    if (n > 0) std::memcpy(copy.data(), data, copy.size());
    add(name, {type_of<T>(), std::move(shape), std::span<const std::byte>(copy)});
  }
  template <class T>
  void put_scalar(const std::string& name, T value) { put(name, {}, &value); }

  // A tensor whose bytes live elsewhere (a file's buffer kept alive by keep_alive).
  void add(const std::string& name, Tensor tensor) {
    MOSAIC_CHECK(tensors_.emplace(name, std::move(tensor)).second, "stream state: " + name + " stored twice",
                 "a bug: every layer writes under its own prefix");
  }
  void keep_alive(std::shared_ptr<const void> owner) { owners_.push_back(std::move(owner)); }

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }

  // The tensor `name` as T, its shape checked against `expected` (-1: any length there).
  template <class T>
  std::vector<T> take(const std::string& name, const std::vector<int64_t>& expected) const {
    const Tensor& t = find(name);
    MOSAIC_CHECK(t.type == type_of<T>(),
                 "memory " + name + " is " + type_name(t.type) + ", expected " + type_name(type_of<T>()),
                 "the memory file was written by another program or for another precision");
    bool same = t.shape.size() == expected.size();
    for (size_t i = 0; same && i < expected.size(); ++i) same = expected[i] < 0 || expected[i] == t.shape[i];
    MOSAIC_CHECK(same, "memory " + name + " has shape " + shape_text(t.shape) + ", the model's stream expects " + shape_text(expected),
                 "the memory file was written for a model of another size");
    std::vector<T> out(t.bytes.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
    return out;
  }
  template <class T>
  T scalar(const std::string& name) const { return take<T>(name, {})[0]; }
  // The shape of `name` (Error when absent).
  const std::vector<int64_t>& shape(const std::string& name) const { return find(name).shape; }

  static std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + (shape[i] < 0 ? std::string("any") : std::to_string(shape[i]));
    return s + ")";
  }

 private:
  const Tensor& find(const std::string& name) const {
    auto it = tensors_.find(name);
    MOSAIC_CHECK(it != tensors_.end(), "the memory file has no " + name,
                 "it was written for another model or architecture, or is damaged");
    return it->second;
  }

  std::map<std::string, Tensor> tensors_;
  std::deque<std::vector<std::byte>> owned_;     // what put() copied (a deque: no element moves)
  std::vector<std::shared_ptr<const void>> owners_;  // what add()'s views point into
};

}  // namespace mosaic
