// Fuzzes safetensors::Reader: open() on arbitrary bytes, then every accessor on every tensor,
// and a write/re-read round trip of whatever it accepted. Not a fuzzer of the writer's
// input validation (Writer::add is fed only what a Reader accepted).
#include <cstring>
#include <optional>

#include "fuzz_common.hpp"
#include "io/safetensors.hpp"

using namespace mosaic;
using namespace mosaic::safetensors;

namespace {

void check_tensor(const Reader& r, const std::string& name) {
  const TensorInfo& t = r.info(name);
  FUZZ_ASSERT(t.name == name, name);
  FUZZ_ASSERT(t.begin <= t.end, name);
  const auto raw = r.raw(name);
  FUZZ_ASSERT(raw.size() == t.nbytes(), name);
  FUZZ_ASSERT(static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype) == raw.size(), name);
  // Exactly one family of readers accepts each dtype; the other throws Error.
  const bool is_float = t.dtype == DType::F64 || t.dtype == DType::F32 || t.dtype == DType::F16 ||
                        t.dtype == DType::BF16;
  std::vector<float> f32;
  std::vector<double> f64;
  std::vector<int64_t> i64;
  const bool f32_ok = fuzz::ok_or_error([&] { f32 = r.read_f32(name); });
  const bool f64_ok = fuzz::ok_or_error([&] { f64 = r.read_f64(name); });
  const bool i64_ok = fuzz::ok_or_error([&] { i64 = r.read_i64(name); });
  FUZZ_ASSERT(f32_ok == is_float && f64_ok == is_float && i64_ok == !is_float, name);
  const size_t n = static_cast<size_t>(t.numel());
  if (is_float) {
    FUZZ_ASSERT(f32.size() == n && f64.size() == n, name);
  } else {
    FUZZ_ASSERT(i64.size() == n, name);
  }
}

// What a Reader accepted, written back by the Writer, must read back the same.
void round_trip(const Reader& r) {
  Writer w;
  for (const auto& [k, v] : r.metadata()) w.set_metadata(k, v);
  for (const std::string& name : r.names()) {
    // The writer refuses names the reader tolerates ("" and "__metadata__" cannot appear
    // as tensors here; "" can): skip those files rather than report the asymmetry.
    if (name.empty()) return;
    const TensorInfo& t = r.info(name);
    w.add(name, t.dtype, t.shape, r.raw(name));
  }
  const Reader back = Reader::from_bytes(w.serialize(), "round-trip");
  FUZZ_ASSERT(back.names() == r.names(), "names differ after a round trip");
  FUZZ_ASSERT(back.metadata() == r.metadata(), "metadata differs after a round trip");
  for (const std::string& name : r.names()) {
    const TensorInfo &a = r.info(name), &b = back.info(name);
    FUZZ_ASSERT(a.dtype == b.dtype && a.shape == b.shape, name);
    const auto ra = r.raw(name), rb = back.raw(name);
    FUZZ_ASSERT(ra.size() == rb.size() && (ra.empty() || std::memcmp(ra.data(), rb.data(), ra.size()) == 0), name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir dir("safetensors");
  static const std::string path = dir.file("input.safetensors");
  fuzz::write_file(path, data, size);
  std::optional<Reader> r;
  if (!fuzz::ok_or_error([&] { r.emplace(Reader::open(path)); })) return 0;  // rejected: fine
  FUZZ_ASSERT(r->names().size() == r->size(), "names() and size() disagree");
  for (const std::string& name : r->names()) {
    FUZZ_ASSERT(r->has(name), name);
    check_tensor(*r, name);
  }
  if (!r->has("no such tensor")) {
    FUZZ_ASSERT(!fuzz::ok_or_error([&] { r->info("no such tensor"); }), "info() of a missing name must throw");
  }
  // An accepted file must survive the writer: an Error here is a finding too.
  try {
    round_trip(*r);
  } catch (const Error& e) {
    FUZZ_ASSERT(false, std::string("round trip threw: ") + e.what());
  }
  return 0;
}
