// safetensors reader and writer: 8-byte LE header length, JSON header, raw LE tensor data.
// Spec: https://github.com/huggingface/safetensors (header entries, __metadata__, no holes).
// Not a tensor library: it hands out typed copies or raw byte views; no mmap, no big-endian.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mosaic::safetensors {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType dtype);                      // "F32", "BF16", ...
size_t dtype_size(DType dtype);                           // bytes per element
std::optional<DType> parse_dtype(std::string_view name);  // nullopt when unknown

// Exact widening of IEEE half (1-5-10) and bfloat16 (1-8-7) bit patterns, incl. subnormals,
// infinities and NaNs (NaN payload and sign are kept).
float half_to_float(uint16_t bits);
float bf16_to_float(uint16_t bits);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // [] for a scalar
  size_t begin = 0, end = 0;   // byte offsets inside the data section
  int64_t numel() const;       // product of shape; 1 for a scalar
  size_t nbytes() const { return end - begin; }
};

// A whole safetensors file held in memory and validated on open(). Movable; views returned
// by raw() stay valid while the Reader lives.
class Reader {
 public:
  static Reader open(const std::string& path);
  // Parses bytes already in memory; `path` is only used in error messages.
  static Reader from_bytes(std::vector<std::byte> bytes, const std::string& path);

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::string metadata_or(const std::string& key, const std::string& fallback) const;

  bool has(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // Error when absent
  std::vector<std::string> names() const;                 // in data-offset order
  size_t size() const { return order_.size(); }

  std::vector<float> read_f32(const std::string& name) const;     // from F32/F16/BF16/F64
  std::vector<double> read_f64(const std::string& name) const;    // from F32/F16/BF16/F64
  std::vector<int64_t> read_i64(const std::string& name) const;   // from I64/I32/I16/I8/U8/BOOL
  std::span<const std::byte> raw(const std::string& name) const;  // the tensor's bytes

 private:
  Reader() = default;
  void parse_header(std::string_view header);
  void check_coverage();
  template <typename Out>
  std::vector<Out> read_float_as(const std::string& name, const char* fn) const;

  std::string path_;
  std::vector<std::byte> bytes_;  // the whole file
  size_t data_start_ = 0;         // 8 + header length
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorInfo> tensors_;
  std::vector<std::string> order_;  // names sorted by (begin, end)
};

// Collects tensors (copied in) and writes them in insertion order with a header padded to a
// multiple of 8 bytes, so the data section starts 8-byte aligned.
class Writer {
 public:
  void set_metadata(const std::string& key, const std::string& value);
  // bytes.size() must equal numel(shape) * dtype_size(dtype); duplicate names are an Error.
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape,
           std::span<const std::byte> bytes);
  // As add, without the copy: the bytes must stay alive and unchanged until write() returns
  // (a large state written once, e.g. a memory file).
  void add_view(const std::string& name, DType dtype, std::vector<int64_t> shape,
                std::span<const std::byte> bytes);
  // data holds numel(shape) elements (may be null when that is 0).
  void add_f32(const std::string& name, std::vector<int64_t> shape, const float* data);
  void add_i32(const std::string& name, std::vector<int64_t> shape, const int32_t* data);
  void add_i64(const std::string& name, std::vector<int64_t> shape, const int64_t* data);

  bool has(const std::string& name) const;
  std::vector<std::byte> serialize() const;  // the complete file
  void write(const std::string& path) const;  // streams to disk via AtomicFileWriter

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<std::byte> owned;      // add's copy (empty for a view)
    std::span<const std::byte> bytes;  // into owned, or the caller's bytes
  };
  void check_entry(const std::string& name, DType dtype, const std::vector<int64_t>& shape, size_t nbytes) const;
  std::string header_with_padding() const;

  std::map<std::string, std::string> metadata_;
  std::deque<Entry> entries_;  // insertion order = file order (a deque: an entry never moves, so views into its copy stay valid)
  std::set<std::string> names_;
};

}  // namespace mosaic::safetensors
