// Memory files: the stream's tensors written as views (no copy beyond the state's own), read
// back as views into the file's bytes (kept alive by the state), so saving or loading a memory
// takes about twice its size in RAM at the peak.
#include "io/memory_file.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/safetensors.hpp"

namespace mosaic {

namespace {

constexpr const char* kWriteAgain = "write the memory file again with mosaic sample --save-memory";

safetensors::DType file_type(StreamState::Type t) {
  switch (t) {
    case StreamState::Type::F32: return safetensors::DType::F32;
    case StreamState::Type::F64: return safetensors::DType::F64;
    case StreamState::Type::I32: return safetensors::DType::I32;
    case StreamState::Type::I64: return safetensors::DType::I64;
  }
  return safetensors::DType::U8;
}

// The model as a memory file names it: its config without block_size (a Memory Mosaic's
// stream does not depend on it) and its weights' hash.
std::string model_config_text(const LanguageModel<float>& model) {
  auto j = model.config().to_json();
  j.erase("block_size");
  return j.dump();
}

// The bound as the memory's stores depend on it (not the LRU threshold, which only steers what
// comes next).
std::string limit_text(const MemoryLimit& limit) {
  if (limit.max_pairs == 0) return "unbounded";
  return std::to_string(limit.max_pairs) + " pairs per head, evict " + eviction_name(limit.policy);
}

// How many elements of a float tensor are NaN or Inf (read element by element: a view into a
// file need not be aligned).
template <class T>
size_t non_finite(std::span<const std::byte> bytes) {
  size_t bad = 0;
  for (size_t at = 0; at + sizeof(T) <= bytes.size(); at += sizeof(T)) {
    T v;
    std::memcpy(&v, bytes.data() + at, sizeof(T));
    bad += !std::isfinite(v);
  }
  return bad;
}

size_t non_finite(const StreamState::Tensor& t) {
  if (t.type == StreamState::Type::F32) return non_finite<float>(t.bytes);
  if (t.type == StreamState::Type::F64) return non_finite<double>(t.bytes);
  return 0;
}

// The first config key whose value differs, for the error message.
std::string first_difference(const std::string& saved, const std::string& ours) {
  const auto a = nlohmann::json::parse(saved, nullptr, false), b = nlohmann::json::parse(ours);
  if (!a.is_object()) return "the saved config is not JSON";
  for (const auto& [key, value] : b.items())
    if (!a.contains(key) || a[key] != value)
      return key + " " + (a.contains(key) ? a[key].dump() : std::string("absent")) + " in the file, " + value.dump() + " in the model";
  for (const auto& [key, value] : a.items())
    if (!b.contains(key)) return key + " " + value.dump() + " in the file, absent in the model";
  return "";
}

}  // namespace

std::string weights_hash(const LanguageModel<float>& model) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the bytes of every parameter
  const auto& table = model.params();
  for (const auto& e : table.entries()) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(table.value(e));
    for (size_t i = 0; i < e.numel * sizeof(float); ++i) h = (h ^ bytes[i]) * 0x100000001b3ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

void save_memory_file(const std::string& path, const LanguageModel<float>& model, const ModelStream<float>& stream,
                      const MemoryLimit& limit) {
  StreamState state;
  stream.save(state);
  safetensors::Writer out;
  out.set_metadata("format", kMemoryFileFormat);
  out.set_metadata("arch", model.config().arch);
  out.set_metadata("config", model_config_text(model));
  out.set_metadata("weights", weights_hash(model));
  out.set_metadata("limit", limit_text(limit));
  out.set_metadata("position", std::to_string(stream.position()));
  for (const auto& [name, t] : state.tensors()) {
    const size_t bad = non_finite(t);
    MOSAIC_CHECK(bad == 0, "the stream's " + name + " holds " + std::to_string(bad) + " non-finite values; " + path + " was not written",
                 "the model produced NaN or Inf on this text: check the model with mosaic eval");
    out.add_view(name, file_type(t.type), t.shape, t.bytes);
  }
  out.write(path);
}

void load_memory_file(const std::string& path, const LanguageModel<float>& model, ModelStream<float>& stream,
                      const MemoryLimit& limit) {
  std::error_code ec;
  MOSAIC_CHECK(std::filesystem::is_regular_file(path, ec), "no memory file " + path,
               "check the path given to --load-memory; mosaic sample --save-memory writes one");
  std::shared_ptr<safetensors::Reader> file;
  try {
    file = std::make_shared<safetensors::Reader>(safetensors::Reader::open(path));
  } catch (const Error& e) {
    throw Error(std::string(e.what()), std::string("the file is damaged or not a memory file; ") + kWriteAgain);
  }
  const std::string format = file->metadata_or("format", "");
  MOSAIC_CHECK(format == kMemoryFileFormat, path + " is not a memory file (format '" + format + "')",
               "pass a file written by mosaic sample --save-memory");
  const std::string difference = first_difference(file->metadata_or("config", ""), model_config_text(model));
  MOSAIC_CHECK(file->metadata_or("arch", "") == model.config().arch && difference.empty(),
               path + " was written for another model (" + (difference.empty() ? "arch " + file->metadata_or("arch", "") : difference) + ")",
               "load it with the model it was written with (-m)");
  MOSAIC_CHECK(file->metadata_or("weights", "") == weights_hash(model),
               path + " was written with other weights of this architecture (another checkpoint)",
               "load it with the checkpoint it was written with (-m)");
  const std::string saved_limit = file->metadata_or("limit", "");
  MOSAIC_CHECK(saved_limit == limit_text(limit),
               path + " was written for a memory bound of '" + saved_limit + "', this stream's is '" + limit_text(limit) + "'",
               "pass the --mem-limit and --evict it was written with");
  StreamState state;
  for (const std::string& name : file->names()) {
    const auto& info = file->info(name);
    StreamState::Type type;
    switch (info.dtype) {
      case safetensors::DType::F32: type = StreamState::Type::F32; break;
      case safetensors::DType::F64: type = StreamState::Type::F64; break;
      case safetensors::DType::I32: type = StreamState::Type::I32; break;
      case safetensors::DType::I64: type = StreamState::Type::I64; break;
      default: throw Error(path + ": tensor " + name + " is " + safetensors::dtype_name(info.dtype), kWriteAgain);
    }
    StreamState::Tensor t{type, info.shape, file->raw(name)};
    const size_t bad = non_finite(t);
    MOSAIC_CHECK(bad == 0, path + ": " + name + " holds " + std::to_string(bad) + " non-finite values (NaN or Inf)",
                 std::string("the file is damaged; ") + kWriteAgain);
    state.add(name, std::move(t));
  }
  state.keep_alive(file);
  try {
    stream.load(state);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what(), e.hint);
  }
}

}  // namespace mosaic
