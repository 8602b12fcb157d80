// A config value read strictly from JSON: integers must be whole numbers within the field's
// range (2.9 is not truncated to 2, 4294967312 does not wrap to 16; 1e6 is fine), reals must
// be finite, booleans and strings must be what they say. Error with a hint naming the key.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace mosaic {

// Configs, safetensors headers and metadata are flat or nearly so. Deeper text is refused
// before parsing: nlohmann's dump() and copies recurse once per level, so a 200 KB file of
// brackets would otherwise overflow the stack in an error message.
inline constexpr int kMaxJsonDepth = 64;

// Deepest nesting of arrays and objects in JSON text, skipping strings; stops counting once
// past `limit` (the text need not be valid JSON).
inline int json_nesting_depth(std::string_view text, int limit = kMaxJsonDepth) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Parses JSON text named `what` (a path, "the header of X"); invalid or too deeply nested
// text is an Error with `hint`.
inline nlohmann::json parse_json(std::string_view text, const std::string& what, const std::string& hint) {
  MOSAIC_CHECK(json_nesting_depth(text) <= kMaxJsonDepth,
               what + " nests lists or objects more than " + std::to_string(kMaxJsonDepth) + " deep", hint);
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + " is not valid JSON: " + e.what(), hint);
  }
}

// A value as an error message shows it: scalars as written (long strings cut), lists and
// objects by their size only (never a recursive dump of untrusted input).
inline std::string json_excerpt(const nlohmann::json& v) {
  if (v.is_array()) return "a list of " + std::to_string(v.size());
  if (v.is_object()) return "an object of " + std::to_string(v.size()) + " keys";
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

template <class T>
T json_value(const nlohmann::json& v, const std::string& key, const std::string& source) {
  const std::string where = source + ": config key '" + key + "'";
  if constexpr (std::is_same_v<T, bool>) {
    MOSAIC_CHECK(v.is_boolean(), where + " must be true or false, got " + json_excerpt(v), "e.g. \"bias\": false");
    return v.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    MOSAIC_CHECK(v.is_string(), where + " must be a string, got " + json_excerpt(v), "put the value in quotes");
    return v.get<std::string>();
  } else if constexpr (std::is_integral_v<T>) {
    MOSAIC_CHECK(v.is_number(), where + " must be a whole number, got " + json_excerpt(v), "e.g. 8");
    const double x = v.get<double>();  // exact for every integer a config holds
    // max() + 1 = 2^digits is exact in a double; max() itself may round up to it (int64_t).
    const double kIntegerEnd = std::ldexp(1.0, std::numeric_limits<T>::digits);
    const bool whole = v.is_number_integer() || (std::isfinite(x) && std::floor(x) == x);
    MOSAIC_CHECK(whole, where + " must be a whole number, got " + json_excerpt(v), "drop the fraction");
    const bool in_range = v.is_number_unsigned()
                              ? v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())
                          : v.is_number_integer()
                              ? v.get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                                    (v.get<int64_t>() < 0 ||
                                     static_cast<uint64_t>(v.get<int64_t>()) <= static_cast<uint64_t>(std::numeric_limits<T>::max()))
                              : x >= static_cast<double>(std::numeric_limits<T>::min()) && x < kIntegerEnd;
    MOSAIC_CHECK(in_range, where + " = " + json_excerpt(v) + " is out of range",
                 "it must lie in [" + std::to_string(std::numeric_limits<T>::min()) + ", " +
                     std::to_string(std::numeric_limits<T>::max()) + "]");
    return v.is_number_unsigned() ? static_cast<T>(v.get<uint64_t>())
           : v.is_number_integer() ? static_cast<T>(v.get<int64_t>())
                                   : static_cast<T>(x);
  } else {
    static_assert(std::is_floating_point_v<T>);
    MOSAIC_CHECK(v.is_number() && std::isfinite(v.get<double>()), where + " must be a finite number, got " + json_excerpt(v),
                 "e.g. 1e-3");
    return static_cast<T>(v.get<double>());
  }
}

}  // namespace mosaic
