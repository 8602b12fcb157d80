// Generated text cut at the first of some stop strings (the `stop=` of an API): pieces pass
// through as they come, except an end that may be the start of a stop string, which waits
// until the next piece settles it. Text in, text out: valid UTF-8 in gives valid UTF-8 out
// (a stop string starts on a character, so it never splits one). Not a tokenizer.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace mosaic {

class StopText {
 public:
  // No stop string: everything passes at once. Error with a hint on an empty one.
  explicit StopText(std::vector<std::string> stops = {});
  // The text that can be shown once `piece` has come: all of it, less an end that may start a
  // stop string; once a stop string appears, the text before it, and stopped() turns true
  // (the stop string and anything after it are dropped, as are later pieces).
  std::string feed(std::string_view piece);
  // The end of the text: what was held back.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;  // shorter than the longest stop string
  bool stopped_ = false;
};

}  // namespace mosaic
