// Writes the committed seed corpus, fuzz/corpus/<fuzzer>/, with the project's own writers
// (safetensors::Writer, save_model) where a file format is involved, so the seeds stay valid
// when the formats evolve: `cmake --build build-fuzz --target make_corpus &&
// build-fuzz/make_corpus fuzz/corpus`. Each seed is small; the invalid ones each break one rule.
// Not a fuzzer and not run by fuzz/run.sh (the corpus is committed).
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/rng.hpp"
#include "io/model_io.hpp"
#include "io/safetensors.hpp"
#include "io/token_shards.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"
#include "train/train_config.hpp"

using namespace mosaic;
using namespace mosaic::safetensors;
namespace fs = std::filesystem;

namespace {

fs::path root;

void put(const std::string& fuzzer, const std::string& name, std::string_view bytes) {
  fs::create_directories(root / fuzzer);
  std::ofstream out(root / fuzzer / name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string to_string(const std::vector<std::byte>& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A raw safetensors file from a header text and data bytes (for the invalid seeds).
std::string raw_safetensors(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span(v));
}

void safetensors_seeds() {
  const std::string f = "fuzz_safetensors";
  Writer w;
  w.set_metadata("format", "pt");
  const std::vector<float> f32 = {1.0f, -2.5f, 0.0f, 3.25f, 1e-30f, 7.0f};
  w.add_f32("weight", {2, 3}, f32.data());
  const std::vector<int64_t> i64 = {-1, 0, 1ll << 40};
  w.add_i64("ids", {3}, i64.data());
  put(f, "valid_f32_i64.safetensors", to_string(w.serialize()));

  Writer all;  // one tensor of every dtype, half-precision specials included
  const std::vector<double> f64 = {1e300, -0.0};
  all.add("f64", DType::F64, {2}, bytes_of(f64));
  const std::vector<uint16_t> halfs = {0x3C00, 0x7C00, 0xFC00, 0x7E01, 0x0001, 0x8000};  // 1 inf -inf nan subnormal -0
  all.add("f16", DType::F16, {6}, bytes_of(halfs));
  all.add("bf16", DType::BF16, {2, 3}, bytes_of(halfs));
  const std::vector<int32_t> i32 = {std::numeric_limits<int32_t>::min(), 5};
  all.add("i32", DType::I32, {1, 2}, bytes_of(i32));
  const std::vector<int16_t> i16 = {-32768, 32767};
  all.add("i16", DType::I16, {2}, bytes_of(i16));
  const std::vector<int8_t> i8 = {-128};
  all.add("i8", DType::I8, {}, bytes_of(i8));  // a scalar
  const std::vector<uint8_t> u8 = {255, 0, 1};
  all.add("u8", DType::U8, {3}, bytes_of(u8));
  all.add("bool", DType::BOOL, {3}, bytes_of(u8));
  all.add("empty", DType::F32, {0, 4}, {});
  put(f, "valid_all_dtypes.safetensors", to_string(all.serialize()));
  put(f, "valid_no_tensors.safetensors", raw_safetensors("{}", ""));
  put(f, "valid_metadata_only.safetensors", raw_safetensors(R"({"__metadata__":{"a":"b"}})", ""));

  const std::string four(4, '\x01');
  put(f, "bad_hole.safetensors", raw_safetensors(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", four));
  put(f, "bad_overlap.safetensors",
      raw_safetensors(R"({"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                      four));
  put(f, "bad_dtype.safetensors", raw_safetensors(R"({"a":{"dtype":"F8","shape":[4],"data_offsets":[0,4]}})", four));
  put(f, "bad_shape_bytes.safetensors", raw_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", four));
  put(f, "bad_negative_shape.safetensors", raw_safetensors(R"({"a":{"dtype":"U8","shape":[-4],"data_offsets":[0,4]}})", four));
  put(f, "bad_overflow_shape.safetensors",
      raw_safetensors(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})", ""));
  put(f, "bad_json.safetensors", raw_safetensors(R"({"a":{"dtype":"U8",)", four));
  put(f, "bad_metadata_value.safetensors", raw_safetensors(R"({"__metadata__":{"a":1}})", ""));
  std::string huge(8, '\xff');
  put(f, "bad_header_length.safetensors", huge + "{}");
  put(f, "bad_short.safetensors", "\x02\0\0");
}

void token_shard_seeds() {
  const std::string f = "fuzz_token_shards";
  auto llmc = [](int32_t magic, int32_t version, int32_t count, const std::vector<uint16_t>& tokens) {
    std::vector<int32_t> header(kShardHeaderInts, 0);
    header[0] = magic;
    header[1] = version;
    header[2] = count;
    std::string out(reinterpret_cast<const char*>(header.data()), kShardHeaderBytes);
    return out + std::string(reinterpret_cast<const char*>(tokens.data()), tokens.size() * 2);
  };
  const std::vector<uint16_t> tokens = {50256, 15496, 11, 995, 0, 65535};
  put(f, "valid_llmc.bin", llmc(kShardMagic, kShardVersion, 6, tokens));
  put(f, "valid_llmc_empty.bin", llmc(kShardMagic, kShardVersion, 0, {}));
  put(f, "valid_nanogpt.bin", std::string(reinterpret_cast<const char*>(tokens.data()), tokens.size() * 2));
  put(f, "bad_version2.bin", llmc(kShardMagic, 2, 6, tokens));
  put(f, "bad_count_short.bin", llmc(kShardMagic, kShardVersion, 7, tokens));
  put(f, "bad_count_negative.bin", llmc(kShardMagic, kShardVersion, -1, tokens));
  put(f, "bad_damaged_magic.bin", llmc(kShardMagic + 1, kShardVersion, 6, tokens));
  put(f, "bad_truncated_header.bin", llmc(kShardMagic, kShardVersion, 6, tokens).substr(0, 100));
  put(f, "bad_odd_length.bin", "abc");
}

// GPT-2's byte -> character table (as in gpt2_tokenizer.cpp), for hand-made vocabularies.
std::string gpt2_char(int b) {
  static std::vector<int> cp = [] {
    std::vector<int> t(256);
    int next = 256;
    for (int i = 0; i < 256; ++i) {
      const bool printable = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE;
      t[i] = printable ? i : next++;
    }
    return t;
  }();
  const int c = cp[b];
  std::string s;
  if (c < 0x80) s += static_cast<char>(c);
  else s += {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
  return s;
}

void tokenizer_file_seeds() {
  const std::string f = "fuzz_tokenizer_files", sep = "\n@@@\n";
  // GPT-2's own encoder.json ("@real") with small hand-written merge lists.
  const std::string text = "Hello world, the theme of these three trees";
  put(f, "real_small_merges.txt",
      "@real" + sep + "#version: 0.2\nh e\nt h\nth e\n" + gpt2_char(' ') + " t\n" + gpt2_char(' ') + "t he\n" + sep + text);
  put(f, "real_repeated_merge_crlf.txt", "@real" + sep + "#version: 0.2\r\nh e\r\nh e\r\n\r\nl l\r\n" + sep + "hello hello");
  put(f, "real_bad_merge_line.txt", "@real" + sep + "#version: 0.2\nh e x\n");
  put(f, "real_unknown_token.txt", "@real" + sep + "#version: 0.2\nzz qq\n");
  put(f, "real_no_merges.txt", "@real" + sep + "#version: 0.2\n");
  put(f, "real_bad_alphabet.txt", "@real" + sep + "\xe2\x82\xac a\n");
  // Hand-made encoders: the 256 byte tokens (+ one merge token), which load() must refuse
  // for lacking <|endoftext|> at 50256; and broken ones.
  nlohmann::json enc = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) enc[gpt2_char(b)] = b;
  enc["he"] = 256;
  put(f, "small_no_eot.txt", enc.dump() + sep + "#version: 0.2\nh e\n");
  enc["<|endoftext|>"] = 257;
  put(f, "small_eot_wrong_id.txt", enc.dump() + sep + "#version: 0.2\nh e\n");
  put(f, "bad_json.txt", "{\"a\": 0," + sep + "h e\n");
  put(f, "bad_duplicate_id.txt", R"({"a": 0, "b": 0})" + sep + "a b\n");
  put(f, "bad_id_range.txt", R"({"a": 1})" + sep + "a b\n");
  put(f, "no_vocab_file.txt", R"({"a": 0})");
}

void bpe_seeds() {
  const std::string f = "fuzz_bpe";
  put(f, "english.txt", "Once upon a time, there was a little girl named Lily. She didn't like the rain.\n");
  put(f, "eot.txt", "The end.<|endoftext|>Next story<|endoftext|><|endoftext|> <|endoftext");
  put(f, "unicode.txt", "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80 \xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xC2\xA0\xE2\x80\xAF x");
  put(f, "invalid_utf8.txt", "ab\xFF\xFE cd\xC0\xAF \xED\xA0\x80 \xF4\x90\x80\x80 \xE2\x82 end\xC3");
  put(f, "long_word.txt", std::string(200, 'a') + " " + std::string(100, '7') + " " + std::string(90, '!'));
  put(f, "whitespace.txt", "a  \t\n\n   b\r\n\x0B\x0C  \xC2\x85\xE3\x80\x80 c   ");
  put(f, "contractions.txt", "it's we're they've I'm you'll he'd 'S 'T '' ' s");
  put(f, "numbers_code.txt", "x = 3.14159 * (y[2] + 0x1F); // 1,000,000 -> 1e6\n\tif (a != b) { return; }");
  put(f, "control_bytes.txt", std::string("\0\x01\x02\x1A\x7F\x80", 6) + "z");
}

void config_seeds() {
  const std::string f = "fuzz_config";
  for (const auto& entry : fs::directory_iterator(root / ".." / ".." / "configs"))
    if (entry.path().extension() == ".json") put(f, entry.path().filename().string(), read_all(entry.path().string()));
  put(f, "model_only.json", R"({"arch": "mosaic", "n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 8, "vocab_size": 32, "pmem_size": 4, "pmem_count": 1, "bias": true, "dropout": 0.0, "leaky_cuda": true})");
  put(f, "trainer_all.json", TrainConfig{}.to_json().dump(1));
  put(f, "schedule_edges.json", R"({"warmup_iters": 0, "lr_decay_iters": 0, "max_iters": 1, "min_lr": 0, "learning_rate": 1e-3})");
  put(f, "whole_float.json", R"({"batch_size": 8.0, "max_iters": 1e6, "seed": 18446744073709551615})");
  put(f, "bad_fraction.json", R"({"batch_size": 2.5})");
  put(f, "bad_range.json", R"({"n_layer": 4294967312})");
  put(f, "bad_type.json", R"({"bias": "yes", "out_dir": 3})");
  put(f, "bad_unknown_key.json", R"({"n_layers": 4})");
  put(f, "bad_not_object.json", "[1, 2, 3]");
  put(f, "bad_json.json", "{\"n_layer\": 4,");
  put(f, "bad_nan.json", R"({"learning_rate": NaN})");
  put(f, "bad_validate.json", R"({"n_embd": 10, "n_head": 3, "dropout": 0.1, "beta1": 1.0})");
}

void utf8_seeds() {
  const std::string f = "fuzz_utf8_stream";
  // byte 0: how many piece lengths follow; then the lengths; then the text.
  put(f, "ascii.bin", std::string("\x01\x03", 2) + "hello world");
  put(f, "multibyte_split.bin", std::string("\x03\x01\x02\x05", 4) + "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80!");
  put(f, "invalid.bin", std::string("\x02\x01\x00", 3) + "\xFF\xC0\xAF\xE0\x80\xAF\xED\xA0\x80\xF4\x90\x80\x80\xF5\x80");
  put(f, "truncated_tail.bin", std::string("\x01\x01", 2) + "ok \xF0\x9F\x98");
  put(f, "surrogate_and_max.bin", std::string("\x00", 1) + "\xED\x9F\xBF\xEE\x80\x80\xF4\x8F\xBF\xBF\xF0\x90\x80\x80");
  put(f, "lone_continuations.bin", std::string("\x02\x04\x08", 3) + "\x80\x81\xBF a \xC2\xC2\xA9 \xE2\x82\xE2\x82\xAC");
}

void model_seeds() {
  const std::string f = "fuzz_model_file";
  const fs::path tmp = fs::temp_directory_path() / ("mosaic_make_corpus_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  Rng rng(7);
  auto save = [&](const ModelConfig& c) {
    auto model = make_model<float>(c);
    init_parameters(model->params(), c, rng);
    const std::string path = (tmp / "m.safetensors").string();
    save_model(path, *model);
    return read_all(path);
  };
  ModelConfig mosaic_cfg;
  mosaic_cfg.arch = "mosaic";
  mosaic_cfg.n_layer = 1, mosaic_cfg.n_head = 2, mosaic_cfg.n_embd = 8, mosaic_cfg.block_size = 4;
  mosaic_cfg.vocab_size = 16, mosaic_cfg.pmem_size = 4, mosaic_cfg.pmem_count = 1;
  const std::string mosaic_file = save(mosaic_cfg);
  put(f, "valid_mosaic.safetensors", mosaic_file);
  ModelConfig gpt_cfg = mosaic_cfg;
  gpt_cfg.arch = "gpt";
  gpt_cfg.bias = false;
  const std::string gpt_file = save(gpt_cfg);
  put(f, "valid_gpt.safetensors", gpt_file);
  put(f, "bad_truncated.safetensors", mosaic_file.substr(0, mosaic_file.size() - 5));

  // Rewrites of a saved file: `edit` may rename a tensor, change its float data, or drop it
  // (return false). Non-float tensors (the BOOL causal masks) are copied as they are.
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<std::byte> bytes;
    float* floats() { return reinterpret_cast<float*>(bytes.data()); }  // F32 tensors only
  };
  auto rewrite = [](const std::string& file, const std::map<std::string, std::string>& meta, auto&& edit) {
    const auto* p = reinterpret_cast<const std::byte*>(file.data());
    const Reader r = Reader::from_bytes(std::vector<std::byte>(p, p + file.size()), "seed");
    Writer w;
    for (const auto& [k, v] : meta) w.set_metadata(k, v);
    for (const std::string& name : r.names()) {
      const auto raw = r.raw(name);
      Tensor t{name, r.info(name).dtype, r.info(name).shape, {raw.begin(), raw.end()}};
      if (edit(t)) w.add(t.name, t.dtype, t.shape, t.bytes);
    }
    return to_string(w.serialize());
  };
  auto keep = [](Tensor&) { return true; };
  // Plain PyTorch state_dicts: no metadata, the config comes from the shapes.
  put(f, "plain_mosaic.safetensors", rewrite(mosaic_file, {}, keep));
  put(f, "plain_gpt_with_config_json.safetensors", rewrite(gpt_file, {}, keep) + "@@config.json@@{\"n_head\": 2}");
  put(f, "bad_plain_gpt_no_n_head.safetensors", rewrite(gpt_file, {}, keep));
  // Hugging Face GPT-2: no "transformer." prefix and Conv1D weights stored (in, out).
  auto hf = [](Tensor& t) {
    if (t.name.rfind("transformer.", 0) == 0) t.name = t.name.substr(12);
    for (const char* s : {"attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"}) {
      if (!t.name.ends_with(s)) continue;
      const int64_t rows = t.shape[0], cols = t.shape[1];
      std::vector<std::byte> out(t.bytes.size());
      auto* dst = reinterpret_cast<float*>(out.data());
      for (int64_t o = 0; o < rows; ++o)
        for (int64_t i = 0; i < cols; ++i) dst[i * rows + o] = t.floats()[o * cols + i];
      t.bytes = out;
      t.shape = {cols, rows};
    }
    return true;
  };
  put(f, "hf_gpt2_with_config_json.safetensors", rewrite(gpt_file, {}, hf) + "@@config.json@@{\"n_head\": 2, \"n_embd\": 8}");
  const std::map<std::string, std::string> meta = {{"arch", "mosaic"}, {"config", mosaic_cfg.to_json().dump()}};
  put(f, "bad_nan_weight.safetensors", rewrite(mosaic_file, meta, [](Tensor& t) {
        if (t.name == "mosaic.ln_f.weight") t.floats()[1] = std::nanf("");
        return true;
      }));
  put(f, "bad_missing_tensor.safetensors",
      rewrite(mosaic_file, meta, [](Tensor& t) { return t.name != "mosaic.ln_f.weight"; }));
  put(f, "bad_extra_tensor.safetensors", rewrite(mosaic_file, meta, [](Tensor& t) {
        if (t.name == "lm_head.weight") t.name = "mosaic.extra";
        return true;
      }));
  ModelConfig wrong = mosaic_cfg;
  wrong.n_embd = 12;
  put(f, "bad_config_mismatch.safetensors", rewrite(mosaic_file, {{"arch", "mosaic"}, {"config", wrong.to_json().dump()}}, keep));
  put(f, "bad_config_json.safetensors", rewrite(mosaic_file, {{"arch", "mosaic"}, {"config", "{\"n_layer\": "}}, keep));
  put(f, "bad_arch.safetensors", rewrite(mosaic_file, {{"arch", "rnn"}, {"config", mosaic_cfg.to_json().dump()}}, keep));
  fs::remove_all(tmp);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_corpus OUT_DIR (fuzz/corpus)\n";
    return 2;
  }
  root = fs::absolute(argv[1]);
  try {
    safetensors_seeds();
    token_shard_seeds();
    tokenizer_file_seeds();
    bpe_seeds();
    config_seeds();
    utf8_seeds();
    model_seeds();
  } catch (const Error& e) {
    std::cerr << "make_corpus: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
