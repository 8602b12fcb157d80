// A config struct declared as one table of fields: JSON key, member, one-line meaning, numeric
// range, and when the key is written. Reading, to_json, the known keys, the hints, the range
// checks and `mosaic train`'s flags all walk it. Not a schema: rules across fields stay in code.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/json_value.hpp"

namespace mosaic {

// A bound as people write it: whole numbers exactly, 2^k from 2^20 up, else %g.
inline std::string bound_text(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  int exponent = 0;
  if (v >= 0x1p20 && std::frexp(v, &exponent) == 0.5) return "2^" + std::to_string(exponent - 1);
  if (std::floor(v) == v && std::fabs(v) < 0x1p53) return std::to_string(static_cast<int64_t>(v));
  char s[32];
  std::snprintf(s, sizeof s, "%g", v);
  return s;
}

// The values a numeric field may take: [lo, hi] with either end open or infinite, and `unset`,
// one value outside them that means "not set" (ic_dropout -1: use dropout).
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  std::optional<double> unset{};

  bool bounded() const { return !std::isinf(lo) || !std::isinf(hi); }
  bool contains(double v) const {
    if (unset && v == *unset) return true;
    return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  }
  // "in [1, 1024]", ">= 0", "> 0", "in [0, 1) or -1".
  std::string text() const {
    std::string t;
    if (std::isinf(hi)) t = (lo_open ? "> " : ">= ") + bound_text(lo);
    else if (std::isinf(lo)) t = (hi_open ? "< " : "<= ") + bound_text(hi);
    else t = std::string("in ") + (lo_open ? "(" : "[") + bound_text(lo) + ", " + bound_text(hi) + (hi_open ? ")" : "]");
    return unset ? t + " or " + bound_text(*unset) : t;
  }
};

constexpr Range between(double lo, double hi) { return {.lo = lo, .hi = hi}; }
constexpr Range at_least(double lo) { return {.lo = lo}; }
constexpr Range above(double lo) { return {.lo = lo, .lo_open = true}; }
constexpr Range rate() { return {.lo = 0, .hi = 1, .hi_open = true}; }  // [0, 1)

template <class C>
struct ConfigField {
  using Member = std::variant<std::monostate, bool C::*, int C::*, int64_t C::*, uint64_t C::*, double C::*,
                              std::string C::*>;
  const char* key;
  Member member;        // std::monostate: a reference-only key, accepted and ignored
  const char* meaning;  // one line, for --help and the hints
  Range range{};        // numeric fields only; unbounded: not checked
  bool (*applies)(const C&) = nullptr;  // where false the field is neither checked nor written; null: always
  bool (*written)(const C&) = nullptr;  // to_json writes the key only where true; null: always
  const char* alias = nullptr;          // a short command-line flag, e.g. "-t"

  bool ignored() const { return std::holds_alternative<std::monostate>(member); }
  bool applies_to(const C& c) const { return !applies || applies(c); }
};

namespace config_table_detail {
template <class M>
struct member_type;
template <class T, class C>
struct member_type<T C::*> {
  using type = T;
};
}  // namespace config_table_detail

// The field's value in c as JSON (null for an ignored key).
template <class C>
nlohmann::json field_json(const ConfigField<C>& f, const C& c) {
  return std::visit(
      [&](auto m) -> nlohmann::json {
        if constexpr (std::is_same_v<decltype(m), std::monostate>) return nullptr;
        else return c.*m;
      },
      f.member);
}

// Sets the field from a JSON value, strictly (json_value): Error with a hint on a wrong type.
template <class C>
void read_field(const ConfigField<C>& f, C& c, const nlohmann::json& v, const std::string& source) {
  std::visit(
      [&](auto m) {
        using M = decltype(m);
        if constexpr (!std::is_same_v<M, std::monostate>)
          c.*m = json_value<typename config_table_detail::member_type<M>::type>(v, f.key, source);
      },
      f.member);
}

template <class C>
const ConfigField<C>* find_field(std::span<const ConfigField<C>> fields, std::string_view key) {
  for (const auto& f : fields)
    if (key == f.key) return &f;
  return nullptr;
}

// The entry of a member (a table lists every member it reads).
template <class C, class T>
const ConfigField<C>& field_of(std::span<const ConfigField<C>> fields, T C::*member) {
  for (const auto& f : fields)
    if (const auto* m = std::get_if<T C::*>(&f.member); m && *m == member) return f;
  throw Error("config member without a table entry", "add it to the config's field table");
}

// The named members under their keys, whatever their `written` rule (for reports).
template <class C, class... T>
nlohmann::json members_json(std::span<const ConfigField<C>> fields, const C& c, T C::*... members) {
  nlohmann::json j = nlohmann::json::object();
  ((j[field_of(fields, members).key] = c.*members), ...);
  return j;
}

// "arch block_size ...": every key a user may set, for hints.
template <class C>
std::string known_keys(std::span<const ConfigField<C>> fields) {
  std::string out;
  for (const auto& f : fields) {
    if (f.ignored()) continue;
    if (!out.empty()) out += ' ';
    out += f.key;
  }
  return out;
}

// Every field that applies to c and whose `written` rule holds.
template <class C>
void write_fields(nlohmann::json& j, std::span<const ConfigField<C>> fields, const C& c) {
  for (const auto& f : fields)
    if (!f.ignored() && f.applies_to(c) && (!f.written || f.written(c))) j[f.key] = field_json(f, c);
}

// Error naming the key, its range and its meaning for the first value out of its range.
template <class C>
void check_ranges(std::span<const ConfigField<C>> fields, const C& c) {
  for (const auto& f : fields) {
    if (!f.range.bounded() || !f.applies_to(c)) continue;
    const nlohmann::json v = field_json(f, c);
    if (!v.is_number() || f.range.contains(v.get<double>())) continue;
    static const C defaults{};
    throw Error(std::string(f.key) + " " + v.dump() + " must be " + f.range.text(),
                std::string(f.key) + ": " + f.meaning + " (default " + field_json(f, defaults).dump() + ")");
  }
}

// One key as the command line offers it.
struct ConfigKey {
  std::string name, alias, meaning, type_name, default_text, range_text;
  bool is_string = false;
};

template <class C>
std::vector<ConfigKey> describe_fields(std::span<const ConfigField<C>> fields) {
  static const C defaults{};
  std::vector<ConfigKey> out;
  for (const auto& f : fields) {
    if (f.ignored()) continue;
    const nlohmann::json d = field_json(f, defaults);
    ConfigKey k{f.key, f.alias ? f.alias : "", f.meaning, "", d.is_string() ? d.get<std::string>() : d.dump(),
                f.range.bounded() ? f.range.text() : "", d.is_string()};
    k.type_name = d.is_boolean() ? "BOOL" : d.is_number_float() ? "FLOAT" : d.is_number() ? "INT" : "TEXT";
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace mosaic
