// StepThreads (kernels/threads.hpp): with another process spinning on a core, the measured load
// elsewhere shows it and a step runs on fewer threads than the default, restored after; a count
// fixed by set_threads is left alone. Counts are per thread: each case runs on its own thread.
#include <gtest/gtest.h>
#include <omp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "kernels/threads.hpp"

extern char** environ;

namespace mosaic {
namespace {

// A shell loop in its own process, spinning on a core until the object dies.
class Spinner {
 public:
  Spinner() {
    const char* argv[] = {"sh", "-c", "while :; do :; done", nullptr};
    ok_ = posix_spawnp(&pid_, "sh", nullptr, nullptr, const_cast<char**>(argv), environ) == 0;
  }
  ~Spinner() {
    if (!ok_) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  bool ok() const { return ok_; }

 private:
  pid_t pid_ = 0;
  bool ok_ = false;
};

template <class Body>
void on_own_thread(Body body) {
  std::thread t(body);
  t.join();
}

TEST(StepThreads, LeaveTheCoreAnotherProcessTakes) {
  if (omp_get_num_procs() < 2) GTEST_SKIP() << "one core: nothing to leave";
  on_own_thread([] {
    const int all = omp_get_num_procs();
    omp_set_num_threads(all);
    Spinner spinner;
    ASSERT_TRUE(spinner.ok());
    cores_busy_elsewhere();  // starts a window
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_GE(cores_busy_elsewhere(), 0.6) << "a spinning process is a core busy elsewhere";
    {
      const StepThreads step;
      EXPECT_LT(omp_get_max_threads(), all);
      EXPECT_GE(omp_get_max_threads(), 1);
    }
    EXPECT_EQ(omp_get_max_threads(), all) << "the count is restored after the step";
    set_threads(all);  // fixed: the step leaves it
    {
      const StepThreads step;
      EXPECT_EQ(omp_get_max_threads(), all);
    }
    set_threads(0);
  });
}

// Between two readings of 100 ticks on 2 cores: another process's 50 ticks are half a core
// (we used 30 of the busy 80); a niced process's 50 more count only when we are niced too.
TEST(StepThreads, NicedProcessesCountOnlyWhenWeAreNiced) {
  CpuTicks before, after;
  before.ok = after.ok = true;
  after.busy = 80;
  after.ours = 30;
  after.niced = 50;
  after.total = 200;  // 2 cores x 100 ticks
  EXPECT_DOUBLE_EQ(cores_busy_between(before, after, 2, false), 0.5);
  EXPECT_DOUBLE_EQ(cores_busy_between(before, after, 2, true), 1.0);
  after.ours = 90;  // ours larger than the busy column (we are niced, our time is in niced)
  EXPECT_DOUBLE_EQ(cores_busy_between(before, after, 2, false), 0.0);
  EXPECT_DOUBLE_EQ(cores_busy_between(before, after, 2, true), 0.4);
  EXPECT_DOUBLE_EQ(cores_busy_between(after, after, 2, true), 0.0) << "no time passed";
}

}  // namespace
}  // namespace mosaic
