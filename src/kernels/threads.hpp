// The thread count of everything that runs in parallel: our OpenMP loops and OpenBLAS's, which
// must agree or one oversubscribes the cores. Set once per command, from its -t flag. Not a
// thread pool.
#pragma once

namespace mosaic {

// n <= 0 leaves the defaults (all cores). Error with a hint when n is more than any machine has,
// or more than the address-space limit (ulimit -v) leaves room for.
void set_threads(int n);

}  // namespace mosaic
