// Shape printing for checks, tables and messages.
#include "core/tensor_layout.hpp"

namespace mosaic {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

}  // namespace mosaic
