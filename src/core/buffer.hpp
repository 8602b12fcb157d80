// Owning, 64-byte aligned, zero-initialised array: the arenas (params, grads, moments,
// activations) are Buffers; everything else is a raw pointer or span view into one.
// Not a tensor: it has no shape. Move-only so an arena has exactly one owner.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <utility>

namespace mosaic {

template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t n) { resize(n); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), capacity_(std::exchange(o.capacity_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
    return *this;
  }
  ~Buffer() { std::free(data_); }

  // Reallocates only when growing, so a step with the same shapes never allocates.
  // Contents are zeroed either way: callers treat a resized buffer as fresh.
  void resize(size_t n) {
    resize_for_overwrite(n);
    zero();
  }
  // The same without zeroing, for buffers the caller writes in full before reading (a gemm
  // with beta 0, say): zeroing the 64 MB logits chunk every step is a pass over memory.
  void resize_for_overwrite(size_t n) {
    if (n > capacity_) {
      std::free(data_);
      size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
      data_ = static_cast<T*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64));
      if (!data_) throw std::bad_alloc();
      capacity_ = n;
    }
    size_ = n;
  }
  void zero() {
    if (size_) std::memset(static_cast<void*>(data_), 0, size_ * sizeof(T));
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  std::span<T> span() { return {data_, size_}; }
  std::span<const T> span() const { return {data_, size_}; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace mosaic
