// Typed error with a hint: thrown at boundaries (files, flags, shapes), printed by main as
// "error: ..." / "hint: ...". Not for kernel invariants: those are assert()s.
#pragma once
#include <stdexcept>
#include <string>

namespace mosaic {

struct Error : std::runtime_error {
  std::string hint;
  Error(const std::string& what, std::string hint_text = "")
      : std::runtime_error(what), hint(std::move(hint_text)) {}
};

// Throws Error(what, hint) when cond is false. Both strings are built only on failure.
#define MOSAIC_CHECK(cond, what, hint)                 \
  do {                                                 \
    if (!(cond)) throw ::mosaic::Error((what), (hint)); \
  } while (0)

}  // namespace mosaic
