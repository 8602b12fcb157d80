// set_threads: one thread count for our OpenMP loops and OpenBLAS's, checked against the
// machine and the address-space limit first; StepThreads: a step's count from the cores others leave.
#include "kernels/threads.hpp"

#include <omp.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#include "core/error.hpp"

// OpenBLAS's own entry point (not CBLAS): declared here so this file needs no BLAS headers
// (the fuzz build links a stub of it, fuzz/support/gemm_stub.cpp).
extern "C" void openblas_set_num_threads(int num_threads);

namespace mosaic {

// OpenBLAS gives each thread a 128 MiB buffer, and under an address-space limit (ulimit -v)
// that it cannot map it retries forever instead of failing (OpenBLAS issue #5289). So the
// room for n threads (buffer and stack) is reserved and released first, and a lack of it is
// an Error. Without a limit there is nothing to check.
static void check_address_space_for(int n) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
  const size_t per_thread = size_t{144} << 20;
  const size_t bytes = per_thread * static_cast<size_t>(n);
  void* probe = ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  MOSAIC_CHECK(probe != MAP_FAILED,
               std::to_string(n) + " threads need about " + std::to_string(bytes >> 20) +
                   " MiB of address space for OpenBLAS's buffers, more than the limit leaves (ulimit -v " +
                   std::to_string(limit.rlim_cur >> 10) + ")",
               "use fewer threads (-t), or raise the limit");
  ::munmap(probe, bytes);
}

namespace {
thread_local bool fixed_count = false;  // set_threads(n > 0) on this thread
}

void set_threads(int n) {
  if (n <= 0) {  // the counts stay (OMP_NUM_THREADS's or the last set); steps adapt again
    fixed_count = false;
    return;
  }
  MOSAIC_CHECK(n <= 1024, std::to_string(n) + " threads is more than any machine here has",
               "-t is the number of cores to use, e.g. -t " + std::to_string(omp_get_num_procs()));
  check_address_space_for(n);
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  fixed_count = true;
}

namespace {

CpuTicks read_ticks() {
  CpuTicks t;
  std::ifstream stat("/proc/stat");
  std::string cpu;
  double user, nice, system, idle, iowait, irq, softirq, steal;
  if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu") return t;
  t.busy = user + system + irq + softirq + steal;  // steal: a hypervisor's other guests
  t.niced = nice;
  t.total = t.busy + nice + idle + iowait;
  std::ifstream self("/proc/self/stat");
  std::string line;
  if (!std::getline(self, line)) return t;
  std::istringstream rest(line.substr(line.rfind(')') + 2));  // after "pid (comm) "
  std::string field;
  for (int i = 3; i <= 13; ++i) rest >> field;  // state .. cmajflt
  double utime = 0, stime = 0;
  if (!(rest >> utime >> stime)) return t;
  t.ours = utime + stime;
  t.ok = true;
  return t;
}

// Other runnable tasks now: procs_running of /proc/stat, less this one.
double others_running() {
  std::ifstream stat("/proc/stat");
  std::string key;
  double n = 0;
  while (stat >> key)
    if (key == "procs_running" && stat >> n) return std::max(0.0, n - 1);
  return 0;
}

}  // namespace

double cores_busy_between(const CpuTicks& before, const CpuTicks& after, int cores, bool we_are_niced) {
  if (!(after.total > before.total)) return 0;
  double others = (after.busy - before.busy) - (after.ours - before.ours);
  if (we_are_niced) others += after.niced - before.niced;  // our own time is in that column then
  return std::max(0.0, cores * others / (after.total - before.total));
}

double cores_busy_elsewhere() {
  using clock = std::chrono::steady_clock;
  static std::mutex mutex;
  static CpuTicks last;
  static clock::time_point last_time;
  static double busy = -1;
  std::lock_guard lock(mutex);
  const auto now = clock::now();
  if (busy >= 0 && now - last_time < std::chrono::milliseconds(100)) return busy;
  const CpuTicks t = read_ticks();
  if (!t.ok) return busy = 0;
  if (busy < 0 || !last.ok) {
    busy = others_running();
  } else if (t.total > last.total) {
    busy = cores_busy_between(last, t, omp_get_num_procs(), ::getpriority(PRIO_PROCESS, 0) > 0);
  }
  last = t;
  last_time = now;
  return busy;
}

StepThreads::StepThreads() {
  previous_ = omp_get_max_threads();
  if (fixed_count || previous_ <= 1) return;
  const double free = omp_get_num_procs() - cores_busy_elsewhere();
  const int n = std::clamp(static_cast<int>(free + 0.3), 1, previous_);
  if (n == previous_) return;
  restore_ = true;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

StepThreads::~StepThreads() {
  if (!restore_) return;
  omp_set_num_threads(previous_);
  openblas_set_num_threads(previous_);
}

}  // namespace mosaic
