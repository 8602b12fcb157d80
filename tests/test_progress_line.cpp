// Progress lines (core/progress_line.hpp) in both modes, driven by an explicit clock: plain
// lines for a log or a pipe, one rewritten line for a terminal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "core/progress_line.hpp"

namespace {

using mosaic::ProgressLine;

// Captures what a ProgressLine writes; text() is complete once the line is destroyed.
struct Captured {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* f = open_memstream(&buf, &size);
  ~Captured() {
    if (f) std::fclose(f);
    std::free(buf);
  }
  std::string text() {
    std::fflush(f);
    return std::string(buf, size);
  }
};

int count(const std::string& s, char c) { return static_cast<int>(std::count(s.begin(), s.end(), c)); }

TEST(ProgressLine, LinesModeWritesWholeLinesEveryIntervalAndAFinalOne) {
  Captured out;
  {
    ProgressLine p("eval", "windows", ProgressLine::Mode::Lines, {5, 5}, out.f);
    p.update(10, 100, 1.0);   // before the first interval: nothing
    p.update(20, 100, 5.0);   // due
    p.update(30, 100, 7.0);   // 2 s later: not due
    p.update(60, 100, 10.0);  // due again
    p.update(100, 100, 11.0);  // the end, always shown once something was
    p.update(100, 100, 12.0);  // not twice
  }
  const std::string text = out.text();
  EXPECT_EQ(count(text, '\r'), 0) << text;
  EXPECT_EQ(count(text, '\n'), 3) << text;
  EXPECT_EQ(text,
            "eval: 20/100 windows, 4.00 windows/s, 5 s, ETA 20 s\n"
            "eval: 60/100 windows, 8.00 windows/s, 10 s, ETA 5 s\n"  // the rate since the last line
            "eval: 100/100 windows, 9.09 windows/s, 11 s\n");        // the mean rate, no ETA
}

TEST(ProgressLine, AShortPassShowsNothing) {
  Captured out;
  {
    ProgressLine p("eval", "windows", ProgressLine::Mode::Lines, {5, 5}, out.f);
    p.update(50, 100, 1.0);
    p.update(100, 100, 2.0);
  }
  EXPECT_EQ(out.text(), "");
}

TEST(ProgressLine, TerminalModeRewritesOneLineAndEndsIt) {
  Captured out;
  {
    ProgressLine p("attention", "windows", ProgressLine::Mode::Terminal, {1, 1}, out.f);
    p.update(100, 1000, 1.0);
    p.update(200, 1000, 2.0);
  }  // destroyed before the end (an error): the line still gets its newline
  const std::string text = out.text();
  EXPECT_EQ(count(text, '\r'), 2) << text;
  EXPECT_EQ(count(text, '\n'), 1) << text;
  EXPECT_EQ(text.substr(0, 11), "\rattention:") << text;
  EXPECT_EQ(text.back(), '\n');
}

TEST(ProgressLine, UnknownTotalScaledUnitsAndADetail) {
  Captured out;
  {
    ProgressLine p("prepare", "MB", ProgressLine::Mode::Lines, {0, 0}, out.f, 1e6);
    p.update(2500000, 0, 2.0, "12 documents, 3400 tokens");
  }
  EXPECT_EQ(out.text(), "prepare: 2.5 MB, 12 documents, 3400 tokens, 1.25 MB/s, 2 s\n");
}

TEST(ProgressLine, ANoteEndsATerminalLineFirst) {
  Captured out;
  {
    ProgressLine p("prompt", "tokens", ProgressLine::Mode::Terminal, {1, 1}, out.f);
    p.update(10, 100, 1.0);
    p.note("hint: a note");
    p.update(100, 100, 3.0);
  }
  const std::string text = out.text();
  EXPECT_NE(text.find(" s\nhint: a note\n\rprompt: 100/100"), std::string::npos) << text;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(count(text, '\n'), 3) << text;
}

TEST(ProgressLine, ProgressSecondsFromTheEnvironment) {
  setenv("MOSAIC_PROGRESS_SECONDS", "0", 1);
  EXPECT_EQ(ProgressLine::timing_of(ProgressLine::Mode::Lines).every, 0);
  setenv("MOSAIC_PROGRESS_SECONDS", "soon", 1);
  EXPECT_THROW(ProgressLine::timing_of(ProgressLine::Mode::Lines), mosaic::Error);
  unsetenv("MOSAIC_PROGRESS_SECONDS");
  EXPECT_EQ(ProgressLine::timing_of(ProgressLine::Mode::Lines).every, 5);
  EXPECT_EQ(ProgressLine::timing_of(ProgressLine::Mode::Terminal).every, 1);
}

}  // namespace
