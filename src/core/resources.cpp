// Resource lookup: the executable's own directory from /proc/self/exe, then the install tree
// and the source checkout (MOSAIC_SOURCE_DIR, compiled in).
#include "core/resources.hpp"

#include <cstdlib>
#include <filesystem>

namespace mosaic {

namespace fs = std::filesystem;

std::vector<std::string> resource_candidates(const std::string& name, const char* env_var, const std::string& in_source) {
  std::vector<std::string> out;
  if (env_var)
    if (const char* v = std::getenv(env_var); v && *v) out.push_back(v);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back((exe.parent_path() / name).string());
    out.push_back((exe.parent_path().parent_path() / "share" / "mosaic" / name).string());
  }
#ifdef MOSAIC_SOURCE_DIR
  out.push_back((fs::path(MOSAIC_SOURCE_DIR) / in_source).string());
#else
  out.push_back((fs::current_path(ec) / in_source).string());
#endif
  return out;
}

std::string find_resource(const std::string& name, const char* env_var, const std::string& in_source,
                          bool (*exists)(const std::string& path)) {
  if (env_var)  // an explicit setting is used as given, even when wrong: its error names it
    if (const char* v = std::getenv(env_var); v && *v) return v;
  const auto candidates = resource_candidates(name, nullptr, in_source);
  for (const auto& c : candidates)
    if (exists(c)) return c;
  return candidates.back();
}

}  // namespace mosaic
