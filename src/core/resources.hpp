// Where the binary finds the data files it ships with (the GPT-2 vocabulary, the benchmark
// configs), so that an installed or copied binary works away from its source tree. Not a
// search path for user files: those are always given on the command line.
#pragma once
#include <string>
#include <vector>

namespace mosaic {

// The first of these that exists: $env_var (when set and not empty); <dir of the executable>/
// <name>; <dir of the executable>/../share/mosaic/<name> (the install tree); the source
// checkout the binary was built from, <checkout>/<in_source>. When none exists, the last one
// tried (so that an error names a real place). `exists` decides what counts as present.
std::string find_resource(const std::string& name, const char* env_var, const std::string& in_source,
                          bool (*exists)(const std::string& path));
// Every place find_resource looks, in order (for hints).
std::vector<std::string> resource_candidates(const std::string& name, const char* env_var, const std::string& in_source);

}  // namespace mosaic
