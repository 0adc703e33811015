#pragma once
// Small collectives every driver needs (docs/architecture.md): agreeing on an
// error across ranks, broadcasting a string, exact integer sums, global
// bounds. They depend on core only, so io's communicator-taking functions use
// them too.
//
// Error agreement: a rank-local step may fail on some ranks only (a bad block
// of the input, an allocation). If those ranks threw while the others went on
// into the next collective, the job would hang. So each rank catches its
// error, and all ranks agree: the error of the lowest failing rank is raised on
// every rank. That rank rethrows its own exception object; the others raise a
// copy of the same type: InputError (file, byte offset or line, reason) and
// ConfigError (key, reason) with exactly the same message, so any rank may
// print it; ResourceError, InternalError and Error with "rank N: " before the
// message; any other exception as a ResourceError "rank N: what()".
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"  // Box, HostIonCloud

namespace aptflow::dist {

// Collective over comm: true on every rank when flag is true on any rank.
bool any_rank(MPI_Comm comm, bool flag);

// Collective over comm: the lowest rank whose flag is true, or -1 when no
// rank's is (one MPI_Allreduce MIN).
int first_rank_where(MPI_Comm comm, bool flag);

// Collective over comm: root's s on every rank (other ranks' s is ignored).
// Any length: a 64-bit length, then pieces below 2^31 bytes.
std::string bcast_string(MPI_Comm comm, std::string s, int root = 0);

// Collective over comm: the first non-empty message in rank order on every
// rank, or "" when every rank passes "" (for messages kept as text, e.g. the
// archive's per-dataset errors).
std::string first_message(MPI_Comm comm, const std::string& local);

// Collective over comm: local is this rank's error or null. Returns when
// every rank passes null; otherwise raises the lowest failing rank's error on
// every rank (see the top of this file).
void agree_on_error(MPI_Comm comm, const std::exception_ptr& local);

// Collective over comm, for callers that already agreed (through their own
// reduction) that some rank failed: raises as agree_on_error does.
[[noreturn]] void raise_first_error(MPI_Comm comm, const std::exception_ptr& local);

// Collective over comm: run a rank-local step on every rank; an exception on
// any rank is raised on every rank (agree_on_error), so that no rank is left
// waiting in a later collective.
template <class F>
void collective_step(MPI_Comm comm, F&& step) {
  std::exception_ptr err;
  try {
    step();
  } catch (...) {
    err = std::current_exception();
  }
  agree_on_error(comm, err);
}

// Collective over comm: v[i] = the sum over ranks of v[i], in place. 128-bit
// integers: exact, so the result does not depend on the order of the
// reduction (nor on the number of ranks). Every rank passes the same n.
void sum_exact(MPI_Comm comm, __int128* v, std::size_t n);
inline void sum_exact(MPI_Comm comm, std::vector<__int128>& v) { sum_exact(comm, v.data(), v.size()); }

// Collective over comm: the union of the ranks' boxes (Box::empty() when
// every rank's box is empty). Min / max are exact: the same box as the serial
// bounds of all ions, on any number of ranks.
Box global_bounds(MPI_Comm comm, const Box& local);
// Collective over comm: the bounds (core/bounds.hpp) of the ions of all ranks.
Box global_bounds(MPI_Comm comm, const HostIonCloud& local);

namespace detail {
// The byte image of an exception that agree_on_error broadcasts, and back
// (no MPI: unit-tested on its own). rethrow_image raises the copy that a rank
// other than `rank` (the failing one) raises.
std::string error_image(const std::exception_ptr& err);
[[noreturn]] void rethrow_image(const std::string& image, int rank);
}  // namespace detail

}  // namespace aptflow::dist
