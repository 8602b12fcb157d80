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

}  // namespace
}  // namespace mosaic
