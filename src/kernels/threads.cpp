// set_threads: one thread count for our OpenMP loops and OpenBLAS's, checked against the
// machine and the address-space limit first.
#include "kernels/threads.hpp"

#include <cblas.h>
#include <omp.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <string>

#include "core/error.hpp"

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

void set_threads(int n) {
  if (n <= 0) return;
  MOSAIC_CHECK(n <= 1024, std::to_string(n) + " threads is more than any machine here has",
               "-t is the number of cores to use, e.g. -t " + std::to_string(omp_get_num_procs()));
  check_address_space_for(n);
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

}  // namespace mosaic
