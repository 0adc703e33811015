// Error agreement, string broadcast and exact sums over MPI ranks; see
// include/aptflow/dist/collective.hpp.
#include "aptflow/dist/collective.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "aptflow/core/bounds.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/dist/detail/pack.hpp"

namespace aptflow::dist {

bool any_rank(MPI_Comm comm, bool flag) {
  int mine = flag ? 1 : 0, any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);  // collective
  return any != 0;
}

int first_rank_where(MPI_Comm comm, bool flag) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int mine = flag ? rank : size, first = size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);  // collective
  return first == size ? -1 : first;
}

std::string bcast_string(MPI_Comm comm, std::string s, int root) {
  std::int64_t len = static_cast<std::int64_t>(s.size());
  MPI_Bcast(&len, 1, MPI_INT64_T, root, comm);  // collective
  s.resize(static_cast<std::size_t>(len));
  constexpr std::int64_t kPiece = std::int64_t{1} << 30;  // MPI counts are int
  for (std::int64_t off = 0; off < len; off += kPiece) {
    const int n = static_cast<int>(std::min(len - off, kPiece));
    MPI_Bcast(s.data() + off, n, MPI_CHAR, root, comm);  // collective
  }
  return s;
}

std::string first_message(MPI_Comm comm, const std::string& local) {
  const int first = first_rank_where(comm, !local.empty());  // collective
  if (first < 0) return {};
  return bcast_string(comm, local, first);  // collective
}

namespace detail {

namespace {

// Kinds in the image; the numbers travel between ranks of one job only.
enum class Kind : std::int64_t { input, config, resource, internal, error, other };

}  // namespace

std::string error_image(const std::exception_ptr& err) {
  Packer out;
  // kind, where, location, file or key, reason, what()
  auto image = [&](Kind k, std::int64_t where, std::int64_t location, const std::string& name,
                   const std::string& reason, const std::string& what) {
    out.put(static_cast<std::int64_t>(k));
    out.put(where);
    out.put(location);
    out.put(name);
    out.put(reason);
    out.put(what);
  };
  try {
    std::rethrow_exception(err);
  } catch (const InputError& e) {
    image(Kind::input, static_cast<std::int64_t>(e.where()), e.location(), e.file(), e.reason(), e.what());
  } catch (const ConfigError& e) {
    image(Kind::config, 0, 0, e.key(), e.reason(), e.what());
  } catch (const ResourceError& e) {
    image(Kind::resource, 0, 0, "", "", e.what());
  } catch (const InternalError& e) {
    image(Kind::internal, 0, 0, "", "", e.what());
  } catch (const Error& e) {
    image(Kind::error, 0, 0, "", "", e.what());
  } catch (const std::exception& e) {
    image(Kind::other, 0, 0, "", "", e.what());
  } catch (...) {
    image(Kind::other, 0, 0, "", "", "unknown exception");
  }
  return out.buf;
}

void rethrow_image(const std::string& image, int rank) {
  Unpacker r{image};
  const auto kind = static_cast<Kind>(r.i64());
  const std::int64_t where = r.i64(), location = r.i64();
  const std::string name = r.str(), reason = r.str(), what = r.str();
  const std::string from = fmt::format("rank {}: {}", rank, what);
  switch (kind) {
    case Kind::input:
      switch (static_cast<InputError::Where>(where)) {
        case InputError::Where::byte:
          throw InputError::at_byte(name, location, reason);
        case InputError::Where::line:
          throw InputError::at_line(name, location, reason);
        case InputError::Where::none:
          break;
      }
      throw InputError(name, reason);
    case Kind::config:
      throw ConfigError(name, reason);
    case Kind::internal:
      throw InternalError(from);
    case Kind::error:
      throw Error(from);
    case Kind::resource:
    case Kind::other:
      break;
  }
  throw ResourceError(from);
}

}  // namespace detail

void raise_first_error(MPI_Comm comm, const std::exception_ptr& local) {
  const int first = first_rank_where(comm, local != nullptr);  // collective
  if (first < 0)
    throw InternalError("raise_first_error: called although no rank failed (a bug, please report)");
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const std::string image = bcast_string(comm, rank == first ? detail::error_image(local) : std::string(),
                                         first);  // collective
  if (rank == first) std::rethrow_exception(local);
  detail::rethrow_image(image, first);
}

void agree_on_error(MPI_Comm comm, const std::exception_ptr& local) {
  if (!any_rank(comm, local != nullptr)) return;  // collective
  raise_first_error(comm, local);                 // collective
}

namespace {
void add_i128(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const __int128*>(in);
  auto* b = static_cast<__int128*>(inout);
  for (int i = 0; i < *len; ++i) b[i] += a[i];
}
}  // namespace

void sum_exact(MPI_Comm comm, __int128* v, std::size_t n) {
  MPI_Datatype t;
  MPI_Type_contiguous(static_cast<int>(sizeof(__int128)), MPI_BYTE, &t);
  MPI_Type_commit(&t);
  MPI_Op op;
  MPI_Op_create(&add_i128, 1, &op);                     // commutative: integer addition
  constexpr std::size_t kPiece = std::size_t{1} << 26;  // elements per call (counts are int)
  std::size_t off = 0;
  do {
    const int count = static_cast<int>(std::min(n - off, kPiece));
    MPI_Allreduce(MPI_IN_PLACE, v + off, count, t, op, comm);  // collective
    off += static_cast<std::size_t>(count);
  } while (off < n);
  MPI_Op_free(&op);
  MPI_Type_free(&t);
}

Box global_bounds(MPI_Comm comm, const Box& local) {
  Box g;
  MPI_Allreduce(local.lo, g.lo, 3, MPI_FLOAT, MPI_MIN, comm);  // collective
  MPI_Allreduce(local.hi, g.hi, 3, MPI_FLOAT, MPI_MAX, comm);  // collective
  return g.is_empty() ? Box::empty() : g;
}

Box global_bounds(MPI_Comm comm, const HostIonCloud& local) {
  return global_bounds(comm, cloud_bounds(Kokkos::DefaultHostExecutionSpace(), local));
}

}  // namespace aptflow::dist
