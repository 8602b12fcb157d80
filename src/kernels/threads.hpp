// The thread count of everything that runs in parallel: our OpenMP loops and OpenBLAS's, which
// must agree or one oversubscribes the cores. Set once per command, from its -t flag; without
// one, work done in repeated steps (streaming: a prompt chunk, a generated token's layers and
// vocabulary product, a batch's step) uses the cores other processes leave free (StepThreads).
// Not a thread pool.
#pragma once

namespace mosaic {

// n > 0 fixes the count for every step of the calling thread (OpenMP's count is per thread);
// Error with a hint when n is more than any machine has, or more than the address-space limit
// (ulimit -v) leaves room for. n <= 0 leaves the count (all cores, or OMP_NUM_THREADS) and lets
// steps adapt again.
void set_threads(int n);

// The cores of this machine other processes kept busy lately: from /proc/stat (every core's
// busy time) less /proc/self/stat (ours), over windows of at least 0.1 s; the first call reads
// the number of other runnable tasks. 0 where /proc cannot be read. Time of niced processes
// counts only when we are niced too: a nice 0 thread takes ~98% of a core from a nice 19 one
// (CFS weights 1024 and 15), so a background job at low priority leaves us our cores.
double cores_busy_elsewhere();

// Clock ticks of every core from /proc/stat and ours from /proc/self/stat.
struct CpuTicks {
  double busy = 0;   // user, system, irq, softirq, steal (a hypervisor's other guests)
  double niced = 0;  // user time of processes with a positive nice value
  double total = 0;  // the above, idle and iowait
  double ours = 0;   // this process's user + system
  bool ok = false;
};
// cores_busy_elsewhere's arithmetic between two readings on `cores` cores.
double cores_busy_between(const CpuTicks& before, const CpuTicks& after, int cores, bool we_are_niced);

// One step under the default count: OpenMP's and OpenBLAS's count set to the cores other
// processes leave free (at least 1, at most the default), restored after. Fork-join at every
// step waits for its slowest thread, so when another process takes one of two cores a team of
// two is 3x slower than one thread (10x for prompt chunks, measured); a step then runs on one.
// With a count fixed by set_threads, or a default of one, the step changes nothing. Results do
// not depend on the count (every parallel loop here splits rows, not sums).
class StepThreads {
 public:
  StepThreads();
  ~StepThreads();
  StepThreads(const StepThreads&) = delete;
  StepThreads& operator=(const StepThreads&) = delete;

 private:
  int previous_ = 1;
  bool restore_ = false;
};

}  // namespace mosaic
