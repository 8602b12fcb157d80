// Communicator on OpenMPI (MOSAIC_HAVE_MPI), or a world of one without it.
#include "dist/communicator.hpp"

#include <chrono>
#include <climits>
#include <cstdlib>

#ifdef MOSAIC_HAVE_MPI
#include <mpi.h>
#endif

namespace mosaic {

namespace {

#ifdef MOSAIC_HAVE_MPI
void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

// MPI counts are int: large buffers go in pieces.
template <class T>
void allreduce_in_pieces(T* data, size_t n, MPI_Datatype type) {
  constexpr size_t kPiece = size_t{1} << 30;
  for (size_t i = 0; i < n; i += kPiece) {
    const int count = static_cast<int>(std::min(kPiece, n - i));
    MPI_Allreduce(MPI_IN_PLACE, data + i, count, type, MPI_SUM, MPI_COMM_WORLD);
  }
}
#endif

class Timer {
 public:
  explicit Timer(double& total) : total_(total) {}
  ~Timer() { total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

 private:
  double& total_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

}  // namespace

// A plain start stays out of MPI: a singleton MPI_Init would start OpenMPI's runtime for nothing.
bool Communicator::launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

bool Communicator::built_with_mpi() {
#ifdef MOSAIC_HAVE_MPI
  return true;
#else
  return false;
#endif
}

Communicator::Communicator() {
  if (!launched_by_mpirun()) return;
#ifdef MOSAIC_HAVE_MPI
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    std::atexit(finalize_at_exit);
  } else {
    MPI_Query_thread(&provided);
  }
  serialized_ = provided >= MPI_THREAD_SERIALIZED;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
#endif
}

Communicator& Communicator::world() {
  static Communicator instance;
  return instance;
}

void Communicator::allreduce_sum(float* data, size_t n) {
  if (size_ == 1) return;
#ifdef MOSAIC_HAVE_MPI
  Timer timer(comm_seconds_);
  allreduce_in_pieces(data, n, MPI_FLOAT);
#endif
}

void Communicator::allreduce_sum(double* data, size_t n) {
  if (size_ == 1) return;
#ifdef MOSAIC_HAVE_MPI
  Timer timer(comm_seconds_);
  allreduce_in_pieces(data, n, MPI_DOUBLE);
#endif
}

void Communicator::broadcast(void* data, size_t bytes, int root) {
  if (size_ == 1) return;
#ifdef MOSAIC_HAVE_MPI
  Timer timer(comm_seconds_);
  auto* p = static_cast<char*>(data);
  for (size_t i = 0; i < bytes; i += INT_MAX) {
    const int count = static_cast<int>(std::min<size_t>(INT_MAX, bytes - i));
    MPI_Bcast(p + i, count, MPI_BYTE, root, MPI_COMM_WORLD);
  }
#endif
}

void Communicator::broadcast(std::string& text, int root) {
  if (size_ == 1) return;
  uint64_t n = text.size();
  broadcast(&n, sizeof n, root);
  text.resize(n);
  broadcast(text.data(), n, root);
}

void Communicator::abort_others(int code) {
  if (size_ == 1) return;
#ifdef MOSAIC_HAVE_MPI
  MPI_Abort(MPI_COMM_WORLD, code);
#endif
}

}  // namespace mosaic
