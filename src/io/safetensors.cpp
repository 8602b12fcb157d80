// safetensors reading (validate everything the spec requires, then hand out typed copies)
// and writing (header padded to 8 bytes, data in insertion order, atomic replace).
// Not a tensor library; the format itself is summarised in safetensors.hpp.
#include "io/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/json_value.hpp"
#include "io/atomic_file.hpp"

namespace mosaic::safetensors {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader memcpy's it as is");

namespace {

using nlohmann::json;

// Same limit as the reference implementation: a real header is kilobytes, so a huge length
// means a corrupt file, and refusing it avoids parsing garbage.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

const char* const kCorruptHint = "the file is truncated or not a safetensors file; re-export it";

// Errors must be one line, but tensor names and JSON parser messages may hold control chars.
std::string one_line(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return s;
}

[[noreturn]] void fail(const std::string& path, const std::string& what,
                       const std::string& hint = kCorruptHint) {
  throw Error(one_line(path + ": " + what), hint);
}

// Product of dims into *out; false if it overflows or a dim is negative.
bool checked_numel(const std::vector<int64_t>& shape, int64_t* out) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return false;
  }
  *out = n;
  return true;
}

// numel * element size in bytes; false on overflow.
bool checked_nbytes(const std::vector<int64_t>& shape, DType dtype, uint64_t* out) {
  int64_t n = 0;
  if (!checked_numel(shape, &n)) return false;
  return !__builtin_mul_overflow(static_cast<uint64_t>(n), dtype_size(dtype), out);
}

template <typename T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

// ---------------------------------------------------------------------------------------
// dtypes

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
  }
  return 0;
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32,
                  DType::I16, DType::I8, DType::U8, DType::BOOL}) {
    if (name == dtype_name(d)) return d;
  }
  return std::nullopt;
}

float half_to_float(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1Fu;
  const uint32_t mant = bits & 0x3FFu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float (float has 13 more mantissa bits).
    const float mag = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -mag : mag;
  }
  uint32_t out;
  if (exp == 0x1F) {
    out = sign | 0x7F800000u | (mant << 13);  // inf, or NaN keeping its payload
  } else {
    out = sign | ((exp - 15 + 127) << 23) | (mant << 13);  // rebias 15 -> 127
  }
  return std::bit_cast<float>(out);
}

float bf16_to_float(uint16_t bits) {
  // bfloat16 is the top half of a float32, subnormals/inf/NaN included.
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------
// Reader

Reader Reader::open(const std::string& path) {
  return from_bytes(read_file_bytes(path), path);
}

Reader Reader::from_bytes(std::vector<std::byte> bytes, const std::string& path) {
  Reader r;
  r.path_ = path;
  r.bytes_ = std::move(bytes);
  const size_t size = r.bytes_.size();
  if (size < 8) {
    fail(path, "file is " + std::to_string(size) +
                   " bytes, too short for a safetensors header length (8 bytes)");
  }
  const uint64_t header_len = load<uint64_t>(r.bytes_.data());
  if (header_len >= kMaxHeaderBytes) {
    fail(path, "header length " + std::to_string(header_len) + " is over the 100 MB limit");
  }
  if (header_len > size - 8) {
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the " +
                   std::to_string(size) + "-byte file");
  }
  r.data_start_ = 8 + static_cast<size_t>(header_len);
  r.parse_header(std::string_view(reinterpret_cast<const char*>(r.bytes_.data()) + 8,
                                  static_cast<size_t>(header_len)));
  r.check_coverage();
  return r;
}

void Reader::parse_header(std::string_view header) {
  // The spec requires the header to start with '{' (trailing spaces are allowed padding).
  if (header.empty() || header.front() != '{') fail(path_, "header does not start with '{'");
  if (json_nesting_depth(header) > kMaxJsonDepth)
    fail(path_, "header nests lists or objects more than " + std::to_string(kMaxJsonDepth) + " deep");
  json root;
  try {
    root = json::parse(header.begin(), header.end());
  } catch (const json::exception& e) {
    fail(path_, std::string("header is not valid JSON: ") + e.what());
  }
  if (!root.is_object()) fail(path_, "header is not a JSON object");
  const size_t data_size = bytes_.size() - data_start_;

  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail(path_, "__metadata__ is not a JSON object");
      for (const auto& [mkey, mvalue] : value.items()) {
        if (!mvalue.is_string()) fail(path_, "__metadata__ value for " + mkey + " is not a string");
        metadata_[mkey] = mvalue.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor " + key + ": ";
    if (!value.is_object()) fail(path_, where + "header entry is not a JSON object");
    TensorInfo t;
    t.name = key;

    const auto dt = value.find("dtype");
    if (dt == value.end() || !dt->is_string()) fail(path_, where + "missing string field dtype");
    const auto parsed = parse_dtype(dt->get<std::string>());
    if (!parsed) {
      fail(path_, where + "unknown dtype " + dt->get<std::string>(),
           "supported dtypes are F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL; convert the tensor");
    }
    t.dtype = *parsed;

    const auto sh = value.find("shape");
    if (sh == value.end() || !sh->is_array()) fail(path_, where + "missing array field shape");
    for (const json& d : *sh) {
      // nlohmann stores non-negative integers as unsigned; negatives and floats fail here.
      if (!d.is_number_unsigned() ||
          d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail(path_, where + "shape " + json_excerpt(*sh) + " is not a list of non-negative integers");
      }
      t.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
    }

    const auto off = value.find("data_offsets");
    if (off == value.end() || !off->is_array() || off->size() != 2 ||
        !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned()) {
      fail(path_, where + "data_offsets must be [begin, end] with non-negative integers");
    }
    const uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
    if (begin > end) fail(path_, where + "data_offsets " + json_excerpt(*off) + " has begin > end");
    if (end > data_size) {
      fail(path_, where + "data_offsets " + json_excerpt(*off) + " run past the data section (" +
                      std::to_string(data_size) + " bytes)");
    }
    uint64_t expected = 0;
    if (!checked_nbytes(t.shape, t.dtype, &expected) || expected != end - begin) {
      fail(path_, where + "shape " + shape_string(t.shape) + " of " + dtype_name(t.dtype) +
                      " needs a different byte count than data_offsets " + json_excerpt(*off));
    }
    t.begin = static_cast<size_t>(begin);
    t.end = static_cast<size_t>(end);
    order_.push_back(key);
    tensors_.emplace(key, std::move(t));
  }
}

// The spec forbids gaps and overlaps: sorted by offset, each tensor starts where the previous
// one ended, and the last one ends at the end of the file.
void Reader::check_coverage() {
  std::sort(order_.begin(), order_.end(), [&](const std::string& a, const std::string& b) {
    const TensorInfo &x = tensors_.at(a), &y = tensors_.at(b);
    if (x.begin != y.begin) return x.begin < y.begin;
    if (x.end != y.end) return x.end < y.end;
    return a < b;
  });
  size_t expected = 0;
  std::string previous;
  for (const std::string& name : order_) {
    const TensorInfo& t = tensors_.at(name);
    if (t.begin < expected) {
      fail(path_, "tensors " + previous + " and " + name + " overlap in the data section (byte " +
                      std::to_string(t.begin) + " < " + std::to_string(expected) + ")");
    }
    if (t.begin > expected) {
      fail(path_, "data bytes " + std::to_string(expected) + ".." + std::to_string(t.begin) +
                      " before tensor " + name + " belong to no tensor (a hole)");
    }
    expected = t.end;
    previous = name;
  }
  const size_t data_size = bytes_.size() - data_start_;
  if (expected != data_size) {
    fail(path_, "data bytes " + std::to_string(expected) + ".." + std::to_string(data_size) +
                    " at the end of the file belong to no tensor");
  }
}

std::string Reader::metadata_or(const std::string& key, const std::string& fallback) const {
  const auto it = metadata_.find(key);
  return it == metadata_.end() ? fallback : it->second;
}

bool Reader::has(const std::string& name) const { return tensors_.count(name) != 0; }

const TensorInfo& Reader::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    throw Error(one_line("tensor " + name + " not found in " + path_),
                "check the name (`mosaic info " + path_ + "` lists the " +
                    std::to_string(tensors_.size()) + " tensors) or the checkpoint's model type");
  }
  return it->second;
}

std::vector<std::string> Reader::names() const { return order_; }

std::span<const std::byte> Reader::raw(const std::string& name) const {
  const TensorInfo& t = info(name);
  return {bytes_.data() + data_start_ + t.begin, t.nbytes()};
}

template <typename Out>
std::vector<Out> Reader::read_float_as(const std::string& name, const char* fn) const {
  const TensorInfo& t = info(name);
  const std::byte* p = bytes_.data() + data_start_ + t.begin;
  const size_t n = static_cast<size_t>(t.numel());
  std::vector<Out> out(n);
  // Every source value is exactly representable in double; to float only F64 rounds.
  switch (t.dtype) {
    case DType::F64:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(load<double>(p + 8 * i));
      break;
    case DType::F32:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(load<float>(p + 4 * i));
      break;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) out[i] = half_to_float(load<uint16_t>(p + 2 * i));
      break;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) out[i] = bf16_to_float(load<uint16_t>(p + 2 * i));
      break;
    default:
      fail(path_, "tensor " + name + " has dtype " + dtype_name(t.dtype) + "; " + fn +
                      " reads F64, F32, F16 or BF16",
           "use read_i64 for integer tensors, or check the tensor name");
  }
  return out;
}

std::vector<float> Reader::read_f32(const std::string& name) const {
  return read_float_as<float>(name, "read_f32");
}

std::vector<double> Reader::read_f64(const std::string& name) const {
  return read_float_as<double>(name, "read_f64");
}

std::vector<int64_t> Reader::read_i64(const std::string& name) const {
  const TensorInfo& t = info(name);
  const std::byte* p = bytes_.data() + data_start_ + t.begin;
  const size_t n = static_cast<size_t>(t.numel());
  std::vector<int64_t> out(n);
  switch (t.dtype) {
    case DType::I64:
      for (size_t i = 0; i < n; ++i) out[i] = load<int64_t>(p + 8 * i);
      break;
    case DType::I32:
      for (size_t i = 0; i < n; ++i) out[i] = load<int32_t>(p + 4 * i);
      break;
    case DType::I16:
      for (size_t i = 0; i < n; ++i) out[i] = load<int16_t>(p + 2 * i);
      break;
    case DType::I8:
      for (size_t i = 0; i < n; ++i) out[i] = load<int8_t>(p + i);
      break;
    case DType::U8:
    case DType::BOOL:
      for (size_t i = 0; i < n; ++i) out[i] = load<uint8_t>(p + i);
      break;
    default:
      fail(path_, "tensor " + name + " has dtype " + dtype_name(t.dtype) +
                      "; read_i64 reads I64, I32, I16, I8, U8 or BOOL",
           "use read_f32 or read_f64 for floating-point tensors, or check the tensor name");
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Writer

void Writer::set_metadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

bool Writer::has(const std::string& name) const { return names_.count(name) != 0; }

void Writer::add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                 std::span<const std::byte> bytes) {
  check_entry(name, dtype, shape, bytes.size());
  names_.insert(name);
  Entry& e = entries_.emplace_back(Entry{name, dtype, std::move(shape), {bytes.begin(), bytes.end()}, {}});
  e.bytes = e.owned;
}

void Writer::add_view(const std::string& name, DType dtype, std::vector<int64_t> shape,
                      std::span<const std::byte> bytes) {
  check_entry(name, dtype, shape, bytes.size());
  names_.insert(name);
  entries_.push_back({name, dtype, std::move(shape), {}, bytes});
}

void Writer::check_entry(const std::string& name, DType dtype, const std::vector<int64_t>& shape, size_t nbytes) const {
  const std::string where = one_line("safetensors writer: tensor " + name + ": ");
  MOSAIC_CHECK(!name.empty() && name != "__metadata__", where + "invalid tensor name",
               "use a non-empty name other than __metadata__");
  MOSAIC_CHECK(!has(name), where + "added twice", "give every tensor a unique name");
  uint64_t expected = 0;
  MOSAIC_CHECK(checked_nbytes(shape, dtype, &expected),
               where + "shape " + shape_string(shape) + " has a negative or overflowing size",
               "check the tensor's shape");
  MOSAIC_CHECK(expected == nbytes,
               where + "shape " + shape_string(shape) + " of " + dtype_name(dtype) + " needs " +
                   std::to_string(expected) + " bytes but " + std::to_string(nbytes) +
                   " were given",
               "pass numel(shape) * dtype_size(dtype) bytes");
}

namespace {

// Views `numel(shape)` elements at data as bytes; numel is checked again by add().
template <typename T>
std::span<const std::byte> element_bytes(const std::vector<int64_t>& shape, const T* data) {
  int64_t n = 0;
  if (!checked_numel(shape, &n) || n == 0 || data == nullptr) return {};
  return {reinterpret_cast<const std::byte*>(data), static_cast<size_t>(n) * sizeof(T)};
}

}  // namespace

void Writer::add_f32(const std::string& name, std::vector<int64_t> shape, const float* data) {
  const auto bytes = element_bytes(shape, data);
  add(name, DType::F32, std::move(shape), bytes);
}

void Writer::add_i32(const std::string& name, std::vector<int64_t> shape, const int32_t* data) {
  const auto bytes = element_bytes(shape, data);
  add(name, DType::I32, std::move(shape), bytes);
}

void Writer::add_i64(const std::string& name, std::vector<int64_t> shape, const int64_t* data) {
  const auto bytes = element_bytes(shape, data);
  add(name, DType::I64, std::move(shape), bytes);
}

std::string Writer::header_with_padding() const {
  // ordered_json keeps __metadata__ first and tensors in file order, which reads better.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  size_t offset = 0;
  for (const Entry& e : entries_) {
    header[e.name] = {{"dtype", dtype_name(e.dtype)},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + e.bytes.size()}}};
    offset += e.bytes.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(one_line(std::string("safetensors writer: cannot encode header: ") + e.what()),
                "tensor names and metadata must be valid UTF-8");
  }
  // Pad with spaces (allowed by the spec) so that 8 + header length is a multiple of 8 and
  // the data section is 8-byte aligned for whoever maps the file.
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

std::vector<std::byte> Writer::serialize() const {
  const std::string header = header_with_padding();
  const uint64_t header_len = header.size();
  size_t total = 8 + header.size();
  for (const Entry& e : entries_) total += e.bytes.size();
  std::vector<std::byte> out(total);
  std::memcpy(out.data(), &header_len, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  size_t at = 8 + header.size();
  for (const Entry& e : entries_) {
    if (!e.bytes.empty()) std::memcpy(out.data() + at, e.bytes.data(), e.bytes.size());
    at += e.bytes.size();
  }
  return out;
}

void Writer::write(const std::string& path) const {
  // Streamed piece by piece so a large checkpoint is not copied into one more buffer.
  const std::string header = header_with_padding();
  const uint64_t header_len = header.size();
  AtomicFileWriter out(path);
  out.write(std::as_bytes(std::span(&header_len, 1)));
  out.write(std::as_bytes(std::span(header.data(), header.size())));
  for (const Entry& e : entries_) out.write(e.bytes);
  out.commit();
}

}  // namespace mosaic::safetensors
