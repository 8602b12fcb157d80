// Tests for io/safetensors and io/atomic_file: round trips, 8-byte alignment, F16/BF16 bit
// patterns, every malformed-file check the reader makes, atomic replace, the real fixture.
// Not a test of model checkpoints (names, shapes of parameters): those live with the models.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using mosaic::Error;
using mosaic::testing::TempDir;
using namespace mosaic::safetensors;

std::vector<std::byte> to_bytes(const std::string& s) {
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

void write_raw(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A hand-made file: u64 header length, the header text, then data_size zero bytes.
std::vector<std::byte> raw_file(const std::string& header, size_t data_size,
                                uint64_t header_len = UINT64_MAX) {
  if (header_len == UINT64_MAX) header_len = header.size();
  std::vector<std::byte> out(8);
  std::memcpy(out.data(), &header_len, 8);
  const auto h = to_bytes(header);
  out.insert(out.end(), h.begin(), h.end());
  out.resize(out.size() + data_size);
  return out;
}

// Writes bytes to a file, expects Reader::open to throw an Error whose one-line message names
// the file and contains `needle`.
void expect_open_error(const std::string& name, const std::vector<std::byte>& bytes,
                       const std::string& needle) {
  const TempDir dir(name);
  const std::string path = dir.file("bad.safetensors");
  write_raw(path, bytes);
  try {
    Reader::open(path);
    FAIL() << "expected an Error for " << name;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_FALSE(e.hint.empty());
  }
}

TEST(SafetensorsDType, NamesSizesAndParse) {
  for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32,
                  DType::I16, DType::I8, DType::U8, DType::BOOL}) {
    ASSERT_TRUE(parse_dtype(dtype_name(d)).has_value());
    EXPECT_EQ(*parse_dtype(dtype_name(d)), d);
  }
  EXPECT_EQ(dtype_size(DType::F64), 8u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_size(DType::BOOL), 1u);
  EXPECT_FALSE(parse_dtype("F8_E4M3").has_value());
  EXPECT_FALSE(parse_dtype("f32").has_value());
}

TEST(SafetensorsRoundTrip, SeveralDtypesAndShapes) {
  const TempDir dir("roundtrip");
  const std::string path = dir.file("t.safetensors");
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
  const std::vector<int32_t> i32 = {1, -2, 2147483647, -2147483647 - 1};
  const std::vector<int64_t> i64 = {int64_t{1} << 40, -5};
  const std::vector<double> f64 = {3.141592653589793, -1e300};
  const std::vector<uint8_t> u8 = {0, 255, 7};
  const std::vector<int8_t> i8 = {-128, 127};
  const std::vector<int16_t> i16 = {-32768, 12345};
  const float scalar = 42.0f;

  Writer w;
  w.add_f32("a.f32", {2, 3}, f32.data());
  w.add_i32("b.i32", {4}, i32.data());
  w.add_i64("c.i64", {1, 2, 1}, i64.data());
  w.add("d.f64", DType::F64, {2}, std::as_bytes(std::span(f64)));
  w.add("e.u8", DType::U8, {3}, std::as_bytes(std::span(u8)));
  w.add("f.i8", DType::I8, {2}, std::as_bytes(std::span(i8)));
  w.add("g.i16", DType::I16, {2}, std::as_bytes(std::span(i16)));
  w.add_f32("h.scalar", {}, &scalar);
  w.add_f32("i.empty", {0, 5}, nullptr);
  w.add_i64("j.empty_too", {3, 0}, nullptr);
  w.write(path);

  const Reader r = Reader::open(path);
  EXPECT_EQ(r.size(), 10u);
  const std::vector<std::string> expected_order = {"a.f32", "b.i32", "c.i64", "d.f64", "e.u8",
                                                   "f.i8", "g.i16", "h.scalar", "i.empty",
                                                   "j.empty_too"};
  EXPECT_EQ(r.names(), expected_order);

  EXPECT_EQ(r.info("a.f32").dtype, DType::F32);
  EXPECT_EQ(r.info("a.f32").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.read_f32("a.f32"), f32);
  EXPECT_EQ(r.read_f64("a.f32")[2], 3.25);
  const auto b = r.read_i64("b.i32");
  EXPECT_EQ(b, (std::vector<int64_t>{1, -2, 2147483647, -2147483648LL}));
  EXPECT_EQ(r.read_i64("c.i64"), i64);
  EXPECT_EQ(r.read_f64("d.f64"), f64);
  EXPECT_EQ(r.read_f32("d.f64")[0], static_cast<float>(3.141592653589793));
  EXPECT_EQ(r.read_i64("e.u8"), (std::vector<int64_t>{0, 255, 7}));
  EXPECT_EQ(r.read_i64("f.i8"), (std::vector<int64_t>{-128, 127}));
  EXPECT_EQ(r.read_i64("g.i16"), (std::vector<int64_t>{-32768, 12345}));

  EXPECT_TRUE(r.info("h.scalar").shape.empty());
  EXPECT_EQ(r.info("h.scalar").numel(), 1);
  EXPECT_EQ(r.read_f32("h.scalar"), std::vector<float>{42.0f});

  EXPECT_EQ(r.info("i.empty").numel(), 0);
  EXPECT_TRUE(r.read_f32("i.empty").empty());
  EXPECT_TRUE(r.raw("j.empty_too").empty());
  EXPECT_EQ(r.info("j.empty_too").shape, (std::vector<int64_t>{3, 0}));

  const auto raw = r.raw("b.i32");
  ASSERT_EQ(raw.size(), 16u);
  EXPECT_EQ(std::memcmp(raw.data(), i32.data(), 16), 0);

  // Typed reads of the wrong kind are errors, not silent conversions.
  EXPECT_THROW(r.read_i64("a.f32"), Error);
  EXPECT_THROW(r.read_f32("b.i32"), Error);

  // serialize() and write() produce the same bytes.
  EXPECT_EQ(w.serialize(), mosaic::read_file_bytes(path));
}

TEST(SafetensorsRoundTrip, MetadataAndAlignment) {
  const std::vector<float> one = {1.0f};
  for (int extra = 0; extra < 9; ++extra) {  // vary the header length across all residues
    Writer w;
    w.set_metadata("arch", "mosaic");
    w.set_metadata("config", R"({"n_layer": 2, "note": "quotes \" and \n newline"})");
    w.set_metadata("pad", std::string(static_cast<size_t>(extra), 'x'));
    w.add_f32("w", {1}, one.data());
    const auto bytes = w.serialize();
    uint64_t header_len = 0;
    std::memcpy(&header_len, bytes.data(), 8);
    EXPECT_EQ((8 + header_len) % 8, 0u) << "extra=" << extra;
    EXPECT_EQ(bytes.size(), 8 + header_len + 4);

    const Reader r = Reader::from_bytes(bytes, "<memory>");
    EXPECT_EQ(r.metadata().size(), 3u);
    EXPECT_EQ(r.metadata_or("arch", "?"), "mosaic");
    EXPECT_EQ(r.metadata_or("config", ""),
              R"({"n_layer": 2, "note": "quotes \" and \n newline"})");
    EXPECT_EQ(r.metadata_or("missing", "fallback"), "fallback");
    EXPECT_EQ(r.read_f32("w"), one);
  }
  // No metadata: no __metadata__ key at all.
  Writer w;
  w.add_f32("w", {1}, one.data());
  const auto bytes = w.serialize();
  const std::string text(reinterpret_cast<const char*>(bytes.data()) + 8, bytes.size() - 12);
  EXPECT_EQ(text.find("__metadata__"), std::string::npos);
  EXPECT_TRUE(Reader::from_bytes(bytes, "<memory>").metadata().empty());
}

TEST(SafetensorsWriter, RejectsBadInput) {
  const float x[2] = {1, 2};
  Writer w;
  w.add_f32("x", {2}, x);
  EXPECT_THROW(w.add_f32("x", {2}, x), Error);                      // duplicate
  EXPECT_THROW(w.add_f32("__metadata__", {2}, x), Error);           // reserved
  EXPECT_THROW(w.add_f32("", {2}, x), Error);                       // empty
  EXPECT_THROW(w.add_f32("y", {-1}, x), Error);                     // negative dim
  EXPECT_THROW(w.add("z", DType::F32, {3}, std::as_bytes(std::span(x))), Error);  // size
  EXPECT_TRUE(w.has("x"));
  EXPECT_FALSE(w.has("y"));
}

TEST(SafetensorsHalf, F16BitPatterns) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC100), -2.5f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));       // smallest subnormal
  EXPECT_EQ(half_to_float(0x03FF), std::ldexp(1023.0f, -24));    // largest subnormal
  EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));       // smallest normal
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(half_to_float(0x0000), 0.0f);
  EXPECT_TRUE(std::signbit(half_to_float(0x8000)));
  EXPECT_EQ(half_to_float(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(half_to_float(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7C01)));  // signalling-style payload stays NaN
  EXPECT_TRUE(std::isnan(half_to_float(0xFE00)));
}

TEST(SafetensorsHalf, BF16BitPatterns) {
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_float(0xC020), -2.5f);
  EXPECT_EQ(bf16_to_float(0x477F), 65280.0f);
  EXPECT_EQ(bf16_to_float(0x7F7F), 3.3895313892515355e38f);      // largest finite
  EXPECT_EQ(bf16_to_float(0x0001), std::ldexp(1.0f, -133));      // smallest subnormal
  EXPECT_EQ(bf16_to_float(0x0080), std::ldexp(1.0f, -126));      // smallest normal
  EXPECT_EQ(bf16_to_float(0x7F80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(bf16_to_float(0xFF80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bf16_to_float(0x7FC0)));
  EXPECT_TRUE(std::signbit(bf16_to_float(0x8000)));
}

TEST(SafetensorsHalf, ReaderDecodesF16AndBF16Tensors) {
  const std::vector<uint16_t> h = {0x3C00, 0xC100, 0x7BFF, 0x0001, 0x7C00, 0x7E00};
  const std::vector<uint16_t> b = {0x3F80, 0xC020, 0x0001, 0xFF80};
  Writer w;
  w.add("h", DType::F16, {2, 3}, std::as_bytes(std::span(h)));
  w.add("b", DType::BF16, {4}, std::as_bytes(std::span(b)));
  const Reader r = Reader::from_bytes(w.serialize(), "<memory>");
  const auto hf = r.read_f32("h");
  EXPECT_EQ(hf[0], 1.0f);
  EXPECT_EQ(hf[1], -2.5f);
  EXPECT_EQ(hf[2], 65504.0f);
  EXPECT_EQ(hf[3], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(hf[4]));
  EXPECT_TRUE(std::isnan(hf[5]));
  const auto hd = r.read_f64("h");
  EXPECT_EQ(hd[3], std::ldexp(1.0, -24));
  const auto bd = r.read_f64("b");
  EXPECT_EQ(bd, (std::vector<double>{1.0, -2.5, std::ldexp(1.0, -133),
                                     -std::numeric_limits<double>::infinity()}));
  EXPECT_THROW(r.read_i64("h"), Error);
}

TEST(SafetensorsMalformed, EachCheckThrows) {
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  // Sanity: the well-formed base case opens.
  {
    const TempDir dir("malformed_ok");
    const std::string path = dir.file("ok.safetensors");
    write_raw(path, raw_file("{" + ok_entry + "}  ", 8));
    EXPECT_EQ(Reader::open(path).names(), std::vector<std::string>{"a"});
  }
  expect_open_error("empty", {}, "too short");
  expect_open_error("short", to_bytes("\x01\x02\x03"), "too short");
  expect_open_error("len_past_end", raw_file("{}", 0, 1000), "runs past the end");
  expect_open_error("len_huge", raw_file("{}", 0, uint64_t{1} << 40), "100 MB");
  expect_open_error("not_json", raw_file("{not json", 0), "not valid JSON");
  expect_open_error("not_object", raw_file("[1,2]", 0), "does not start with '{'");
  expect_open_error("unknown_dtype",
                    raw_file(R"({"a":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", 2),
                    "unknown dtype F8");
  expect_open_error("negative_dim",
                    raw_file(R"({"a":{"dtype":"U8","shape":[-2],"data_offsets":[0,2]}})", 2),
                    "non-negative");
  expect_open_error("offsets_outside",
                    raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
                    "past the data section");
  expect_open_error("begin_after_end",
                    raw_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
                    "begin > end");
  expect_open_error("size_mismatch",
                    raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                    "different byte count");
  expect_open_error("overlap",
                    raw_file("{" + ok_entry +
                                 R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                             12),
                    "overlap");
  expect_open_error("hole",
                    raw_file("{" + ok_entry +
                                 R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
                             16),
                    "hole");
  expect_open_error("trailing", raw_file("{" + ok_entry + "}", 12), "belong to no tensor");
  expect_open_error("bad_metadata",
                    raw_file("{" + ok_entry + R"(,"__metadata__":{"k":3}})", 8),
                    "__metadata__");
  expect_open_error("missing_offsets", raw_file(R"({"a":{"dtype":"F32","shape":[]}})", 4),
                    "data_offsets");
}

TEST(SafetensorsReader, TensorNotFound) {
  const float x = 1.0f;
  Writer w;
  w.add_f32("present", {}, &x);
  const TempDir dir("notfound");
  const std::string path = dir.file("t.safetensors");
  w.write(path);
  const Reader r = Reader::open(path);
  EXPECT_TRUE(r.has("present"));
  EXPECT_FALSE(r.has("absent"));
  try {
    r.info("absent");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "tensor absent not found in " + path);
    EXPECT_FALSE(e.hint.empty());
  }
  EXPECT_THROW(r.read_f32("absent"), Error);
  EXPECT_THROW(r.raw("absent"), Error);
}

TEST(SafetensorsReader, MissingFile) {
  const TempDir dir("missing");
  const std::string path = dir.file("nope.safetensors");
  try {
    Reader::open(path);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cannot open " + path + ": ", 0), 0u) << e.what();
  }
}

// Names of files in dir that look like our temp files.
std::vector<std::string> temp_files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) out.push_back(name);
  }
  return out;
}

TEST(AtomicFile, ReplacesExistingFile) {
  const TempDir tmp("atomic_replace");  // fresh: a test can list it for leftovers
  const std::string dir = tmp.path.string();
  const std::string path = dir + "/f.bin";
  mosaic::write_file_atomically(path, std::as_bytes(std::span("old", 3)));
  mosaic::write_file_atomically(path, std::as_bytes(std::span("new!", 4)));
  EXPECT_EQ(mosaic::read_file_bytes(path), to_bytes("new!"));
  EXPECT_TRUE(temp_files_in(dir).empty());
}

TEST(AtomicFile, FailureLeavesOldFileAndNoTemp) {
  const TempDir tmp("atomic_fail");  // fresh: a test can list it for leftovers
  const std::string dir = tmp.path.string();
  const std::string path = dir + "/f.bin";
  mosaic::write_file_atomically(path, std::as_bytes(std::span("old", 3)));

  // Into a directory that does not exist: the temp file cannot even be created.
  EXPECT_THROW(mosaic::write_file_atomically(dir + "/no/such/dir/f.bin",
                                             std::as_bytes(std::span("x", 1))),
               Error);

  // Over a path that is a directory: the temp file is written, the rename fails, and the
  // temp file must be cleaned up.
  fs::create_directories(dir + "/sub");
  try {
    mosaic::write_file_atomically(dir + "/sub", std::as_bytes(std::span("x", 1)));
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/sub"), std::string::npos) << e.what();
    EXPECT_FALSE(e.hint.empty());
  }
  EXPECT_TRUE(temp_files_in(dir).empty());

  // A write that runs out of room (file size limit standing in for a full disk): the old file
  // keeps its contents and the temp file is gone.
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of being killed
  rlimit small = old_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::vector<std::byte> big(1 << 16, std::byte{7});
  bool threw = false;
  try {
    mosaic::write_file_atomically(path, big);
  } catch (const Error& e) {
    threw = true;
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(threw);
  EXPECT_EQ(mosaic::read_file_bytes(path), to_bytes("old"));
  EXPECT_TRUE(temp_files_in(dir).empty());

  // A writer dropped without commit() (an exception elsewhere) leaves nothing behind.
  {
    mosaic::AtomicFileWriter out(path);
    out.write(std::as_bytes(std::span("partial", 7)));
    EXPECT_TRUE(fs::exists(out.temp_path()));
  }
  EXPECT_EQ(mosaic::read_file_bytes(path), to_bytes("old"));
  EXPECT_TRUE(temp_files_in(dir).empty());
}

TEST(SafetensorsFixture, ReferenceMosaicCheckpoint) {
#ifndef MOSAIC_SHARED_DIR
  GTEST_SKIP() << "MOSAIC_SHARED_DIR not defined";
#else
  const std::string path = MOSAIC_SHARED_DIR "/reference/mosaic_0.safetensors";
  if (!fs::exists(path)) GTEST_SKIP() << path << " is missing";
  const Reader r = Reader::open(path);
  ASSERT_TRUE(r.has("input.idx"));
  EXPECT_EQ(r.info("input.idx").dtype, DType::I32);
  EXPECT_EQ(r.info("input.idx").shape, (std::vector<int64_t>{2, 16}));
  EXPECT_EQ(r.metadata_or("arch", ""), "mosaic");
  EXPECT_EQ(r.read_i64("input.idx").size(), 32u);
  // Every float tensor decodes, and the first (by offset) starts the data section.
  for (const std::string& name : r.names()) {
    const DType d = r.info(name).dtype;
    if (d == DType::F32 || d == DType::F64 || d == DType::F16 || d == DType::BF16) {
      EXPECT_EQ(r.read_f32(name).size(), static_cast<size_t>(r.info(name).numel())) << name;
    }
  }
  EXPECT_EQ(r.info(r.names().front()).begin, 0u);
#endif
}

}  // namespace
