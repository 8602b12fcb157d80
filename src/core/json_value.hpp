// A config value read strictly from JSON: integers must be whole numbers within the field's
// range (2.9 is not truncated to 2, 4294967312 does not wrap to 16; 1e6 is fine), reals must
// be finite, booleans and strings must be what they say. Error with a hint naming the key.
#pragma once
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace mosaic {

template <class T>
T json_value(const nlohmann::json& v, const std::string& key, const std::string& source) {
  const std::string where = source + ": config key '" + key + "'";
  if constexpr (std::is_same_v<T, bool>) {
    MOSAIC_CHECK(v.is_boolean(), where + " must be true or false, got " + v.dump(), "e.g. \"bias\": false");
    return v.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    MOSAIC_CHECK(v.is_string(), where + " must be a string, got " + v.dump(), "put the value in quotes");
    return v.get<std::string>();
  } else if constexpr (std::is_integral_v<T>) {
    MOSAIC_CHECK(v.is_number(), where + " must be a whole number, got " + v.dump(), "e.g. 8");
    const double x = v.get<double>();  // exact for every integer a config holds
    const bool whole = v.is_number_integer() || (std::isfinite(x) && std::floor(x) == x);
    MOSAIC_CHECK(whole, where + " must be a whole number, got " + v.dump(), "drop the fraction");
    const bool in_range = v.is_number_unsigned()
                              ? v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())
                          : v.is_number_integer()
                              ? v.get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                                    (v.get<int64_t>() < 0 ||
                                     static_cast<uint64_t>(v.get<int64_t>()) <= static_cast<uint64_t>(std::numeric_limits<T>::max()))
                              : x >= static_cast<double>(std::numeric_limits<T>::min()) &&
                                    x <= static_cast<double>(std::numeric_limits<T>::max());
    MOSAIC_CHECK(in_range, where + " = " + v.dump() + " is out of range",
                 "it must lie in [" + std::to_string(std::numeric_limits<T>::min()) + ", " +
                     std::to_string(std::numeric_limits<T>::max()) + "]");
    return v.is_number_unsigned() ? static_cast<T>(v.get<uint64_t>())
           : v.is_number_integer() ? static_cast<T>(v.get<int64_t>())
                                   : static_cast<T>(x);
  } else {
    static_assert(std::is_floating_point_v<T>);
    MOSAIC_CHECK(v.is_number() && std::isfinite(v.get<double>()), where + " must be a finite number, got " + v.dump(),
                 "e.g. 1e-3");
    return static_cast<T>(v.get<double>());
  }
}

}  // namespace mosaic
