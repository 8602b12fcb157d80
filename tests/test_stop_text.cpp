// Stop strings over streamed text: the text before the first stop string, however the text is
// cut into pieces; nothing held back when no stop string can start; bad stop strings refused.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "text/stop_text.hpp"

namespace mosaic {
namespace {

// The text StopText shows for `text` cut at a and b, and whether it stopped.
std::pair<std::string, bool> shown(const std::vector<std::string>& stops, const std::string& text, size_t a, size_t b) {
  StopText stop(stops);
  std::string out;
  for (const std::string& piece : {text.substr(0, a), text.substr(a, b - a), text.substr(b)}) out += stop.feed(piece);
  out += stop.flush();
  return {out, stop.stopped()};
}

TEST(StopText, CutsAtTheFirstStopStringInAnySplit) {
  const std::vector<std::string> stops = {"\n\n", "aab", "The End"};
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"once upon a time\n\nmore", "once upon a time"},
      {"xaaab and The End", "xa"},  // "aab" inside "aaab": the overlap of its own prefix
      {"happy. The End. \n\n", "happy. "},
      {"no stop here, a aa The En", "no stop here, a aa The En"},  // held ends come back at the end
  };
  for (const auto& [text, want] : cases)
    for (size_t a = 0; a <= text.size(); ++a)
      for (size_t b = a; b <= text.size(); ++b) {
        const auto [out, stopped] = shown(stops, text, a, b);
        EXPECT_EQ(out, want) << text << " cut at " << a << ", " << b;
        EXPECT_EQ(stopped, want.size() < text.size()) << text;
      }
}

TEST(StopText, HoldsBackOnlyWhatCanStartAStopString) {
  StopText stop({"END"});
  EXPECT_EQ(stop.feed("caf\xC3\xA9 E"), "caf\xC3\xA9 ");  // "E" may start "END"
  EXPECT_EQ(stop.feed("x"), "Ex");
  EXPECT_EQ(stop.feed("EN"), "");
  EXPECT_EQ(stop.feed("D and after"), "");
  EXPECT_TRUE(stop.stopped());
  EXPECT_EQ(stop.feed("more"), "");
  StopText none;
  EXPECT_EQ(none.feed("anything"), "anything");
  EXPECT_FALSE(none.stopped());
}

TEST(StopText, AnEmptyStopStringIsAnError) {
  try {
    StopText stop({"ok", ""});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty stop string"), std::string::npos);
    EXPECT_FALSE(e.hint.empty());
  }
}

}  // namespace
}  // namespace mosaic
