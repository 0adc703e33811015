// All-to-all of fixed-size records with 64-bit counts (one MPI_Alltoallv, or
// rounds when the int counts or displacements of MPI-3 would overflow).
#include "aptflow/dist/exchange.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

#include "aptflow/core/error.hpp"

namespace aptflow::dist::detail {

namespace {

constexpr std::int64_t kRoundBytes = std::int64_t{256} << 20;  // per rank and round, multi-round path

struct RecordType {
  MPI_Datatype t = MPI_DATATYPE_NULL;
  explicit RecordType(std::size_t bytes) {
    if (bytes == 0 || bytes > static_cast<std::size_t>(INT_MAX))
      throw InternalError("alltoallv: record size " + std::to_string(bytes) + " bytes is not in 1..INT_MAX");
    MPI_Type_contiguous(static_cast<int>(bytes), MPI_BYTE, &t);
    MPI_Type_commit(&t);
  }
  ~RecordType() { MPI_Type_free(&t); }
  RecordType(const RecordType&) = delete;
  RecordType& operator=(const RecordType&) = delete;
};

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS)
    throw ResourceError(std::string(what) + " failed: check the MPI installation and job");
}

}  // namespace

std::vector<std::int64_t> exchange_counts(MPI_Comm comm, const std::vector<std::int64_t>& send_counts) {
  int p = 1;
  MPI_Comm_size(comm, &p);
  if (static_cast<int>(send_counts.size()) != p)
    throw InternalError("alltoallv: " + std::to_string(send_counts.size()) + " send counts for " +
                        std::to_string(p) + " ranks");
  std::vector<std::int64_t> recv(p);
  check(MPI_Alltoall(send_counts.data(), 1, MPI_INT64_T, recv.data(), 1, MPI_INT64_T, comm), "MPI_Alltoall");
  return recv;
}

void alltoallv_bytes(MPI_Comm comm, const void* send, const std::vector<std::int64_t>& send_counts,
                     void* recv, const std::vector<std::int64_t>& recv_counts, std::size_t record_bytes,
                     std::int64_t max_records_per_message) {
  int p = 1;
  MPI_Comm_size(comm, &p);
  if (static_cast<int>(send_counts.size()) != p || static_cast<int>(recv_counts.size()) != p)
    throw InternalError("alltoallv: counts must have one entry per rank");
  std::int64_t send_total = 0, recv_total = 0, max_count = 0;
  for (int r = 0; r < p; ++r) {
    if (send_counts[r] < 0 || recv_counts[r] < 0) throw InternalError("alltoallv: negative count");
    send_total += send_counts[r];
    recv_total += recv_counts[r];
    max_count = std::max({max_count, send_counts[r], recv_counts[r]});
  }
  const RecordType type(record_bytes);
  const auto* sbytes = static_cast<const char*>(send);
  auto* rbytes = static_cast<char*>(recv);

  // One message per pair when the int counts and displacements of every rank fit.
  int fits = send_total <= INT_MAX && recv_total <= INT_MAX &&
             (max_records_per_message <= 0 || max_count <= max_records_per_message);
  int all_fit = 0;
  check(MPI_Allreduce(&fits, &all_fit, 1, MPI_INT, MPI_MIN, comm), "MPI_Allreduce");
  if (all_fit) {
    std::vector<int> sc(p), sd(p), rc(p), rd(p);
    std::int64_t so = 0, ro = 0;
    for (int r = 0; r < p; ++r) {
      sc[r] = static_cast<int>(send_counts[r]);
      rc[r] = static_cast<int>(recv_counts[r]);
      sd[r] = static_cast<int>(so);
      rd[r] = static_cast<int>(ro);
      so += send_counts[r];
      ro += recv_counts[r];
    }
    check(MPI_Alltoallv(send, sc.data(), sd.data(), type.t, recv, rc.data(), rd.data(), type.t, comm),
          "MPI_Alltoallv");
    return;
  }

  // Rounds: at most cap records per rank pair and round; every rank knows
  // the pair counts, so both sides agree on what each round carries.
  std::int64_t cap =
      max_records_per_message > 0
          ? max_records_per_message
          : std::max<std::int64_t>(1, kRoundBytes / static_cast<std::int64_t>(record_bytes) / p);
  cap = std::min<std::int64_t>(cap, INT_MAX / p);
  cap = std::max<std::int64_t>(cap, 1);
  std::int64_t rounds_here = 0;
  for (int r = 0; r < p; ++r)
    rounds_here = std::max({rounds_here, (send_counts[r] + cap - 1) / cap, (recv_counts[r] + cap - 1) / cap});
  std::int64_t rounds = 0;
  check(MPI_Allreduce(&rounds_here, &rounds, 1, MPI_INT64_T, MPI_MAX, comm), "MPI_Allreduce");

  std::vector<std::int64_t> soff(p + 1, 0), roff(p + 1, 0);
  for (int r = 0; r < p; ++r) {
    soff[r + 1] = soff[r] + send_counts[r];
    roff[r + 1] = roff[r] + recv_counts[r];
  }
  std::vector<char> sbuf, rbuf;
  std::vector<int> sc(p), sd(p), rc(p), rd(p);
  const auto rb = static_cast<std::int64_t>(record_bytes);
  for (std::int64_t k = 0; k < rounds; ++k) {
    const std::int64_t begin = k * cap;
    int so = 0, ro = 0;
    for (int r = 0; r < p; ++r) {
      sc[r] = static_cast<int>(std::clamp<std::int64_t>(send_counts[r] - begin, 0, cap));
      rc[r] = static_cast<int>(std::clamp<std::int64_t>(recv_counts[r] - begin, 0, cap));
      sd[r] = so;
      rd[r] = ro;
      so += sc[r];
      ro += rc[r];
    }
    sbuf.resize(static_cast<std::size_t>(so * rb));
    rbuf.resize(static_cast<std::size_t>(ro * rb));
    for (int r = 0; r < p; ++r)
      if (sc[r] > 0)
        std::memcpy(sbuf.data() + sd[r] * rb, sbytes + (soff[r] + begin) * rb,
                    static_cast<std::size_t>(sc[r] * rb));
    check(MPI_Alltoallv(sbuf.data(), sc.data(), sd.data(), type.t, rbuf.data(), rc.data(), rd.data(), type.t,
                        comm),
          "MPI_Alltoallv");
    for (int r = 0; r < p; ++r)
      if (rc[r] > 0)
        std::memcpy(rbytes + (roff[r] + begin) * rb, rbuf.data() + rd[r] * rb,
                    static_cast<std::size_t>(rc[r] * rb));
  }
}

}  // namespace aptflow::dist::detail
