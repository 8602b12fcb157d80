// Stop strings over streamed text: the held end is the longest suffix that is a proper prefix
// of a stop string, so a stop string that spans pieces is still found whole.
#include "text/stop_text.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace mosaic {

StopText::StopText(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const auto& s : stops_)
    MOSAIC_CHECK(!s.empty(), "an empty stop string", "give stop strings of at least one character, or none");
}

std::string StopText::feed(std::string_view piece) {
  if (stopped_) return {};
  std::string text = held_ + std::string(piece);
  held_.clear();
  size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, text.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    text.resize(first);
    return text;
  }
  size_t keep = 0;  // the longest end of text that a stop string starts with
  for (const auto& s : stops_)
    for (size_t n = std::min(s.size() - 1, text.size()); n > keep; --n)
      if (std::string_view(text).substr(text.size() - n) == std::string_view(s).substr(0, n)) {
        keep = n;
        break;
      }
  held_ = text.substr(text.size() - keep);
  text.resize(text.size() - keep);
  return text;
}

std::string StopText::flush() {
  std::string rest;
  rest.swap(held_);
  return stopped_ ? std::string() : rest;
}

}  // namespace mosaic
