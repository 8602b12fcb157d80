// The processes of a data-parallel run (`mpirun -np N mosaic train`): rank, size and the few
// collectives the trainer needs, on OpenMPI. A process that mpirun did not start (or a build
// without MPI: cmake -DMOSAIC_MPI=OFF) is a world of one whose collectives do nothing, so the
// same binary runs alone. MPI is initialised on first use and finalised at exit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace mosaic {

class Communicator {
 public:
  // The run's communicator (MPI_COMM_WORLD when started by mpirun).
  static Communicator& world();
  // Whether this binary was built with MPI, and whether a process manager (mpirun, or a
  // PMI/PMIx launcher) started this process. Started by mpirun but built without MPI, the
  // world is one process: the trainer refuses that (each copy would write the same out_dir).
  static bool built_with_mpi();
  static bool launched_by_mpirun();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1; }
  // Whether a second thread may make the MPI calls while this one makes none
  // (MPI_THREAD_SERIALIZED or better was granted).
  bool thread_safe_calls() const { return serialized_; }

  // In place, the element-wise sum over every rank. Blocking; seconds spent inside are
  // added to comm_seconds() (read it only while no other thread reduces).
  void allreduce_sum(float* data, size_t n);
  void allreduce_sum(double* data, size_t n);
  // Rank root's bytes to every rank.
  void broadcast(void* data, size_t bytes, int root = 0);
  void broadcast(std::string& text, int root = 0);
  double comm_seconds() const { return comm_seconds_; }

  // After an error on this rank: ends every rank of a distributed run (MPI_Abort), so that
  // none waits forever in a collective. Returns when there is no other rank.
  void abort_others(int code);

 private:
  Communicator();
  int rank_ = 0, size_ = 1;
  bool serialized_ = false;
  double comm_seconds_ = 0;
};

}  // namespace mosaic
