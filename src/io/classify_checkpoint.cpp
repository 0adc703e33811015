#include "aptflow/io/classify_checkpoint.hpp"

#include <fmt/format.h>

#include <cstdio>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/io/h5.hpp"

namespace aptflow::io {

namespace {

constexpr const char* kIdAttr[] = {"input_sha256", "range_sha256", "model_sha256", "grid", "config"};
constexpr std::size_t kIdItems = sizeof(kIdAttr) / sizeof(kIdAttr[0]);

void check_identity_size(const CheckpointIdentity& identity) {
  if (identity.size() != kIdItems)
    throw InternalError(
        fmt::format("classify checkpoint: {} identity items, the layout has {}", identity.size(), kIdItems));
}

}  // namespace

void write_classify_checkpoint(MPI_Comm comm, const std::string& path, const CheckpointShape& shape,
                               std::int64_t first, std::int64_t count, const float* prob,
                               const std::uint8_t* done, const std::vector<__int128>& sum,
                               const std::vector<std::int64_t>& sum_count,
                               const CheckpointIdentity& identity) {
  check_identity_size(identity);
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  std::vector<std::int64_t> s(sum.size() * 2);
  for (std::size_t k = 0; k < sum.size(); ++k) {
    const auto u = static_cast<unsigned __int128>(sum[k]);
    s[2 * k] = static_cast<std::int64_t>(static_cast<std::uint64_t>(u >> 64));
    s[2 * k + 1] = static_cast<std::int64_t>(static_cast<std::uint64_t>(u));
  }
  const std::string tmp = path + ".tmp";
  {
    auto f = h5::File::create(tmp, comm);
    const auto nw = static_cast<hsize_t>(shape.windows);
    h5::create_dataset<float>(f, "/probability", {nw, static_cast<hsize_t>(shape.classes)});
    h5::write_rows(f, "/probability", static_cast<hsize_t>(first), static_cast<hsize_t>(count), prob);
    h5::create_dataset<std::uint8_t>(f, "/done", {nw});
    h5::write_rows(f, "/done", static_cast<hsize_t>(first), static_cast<hsize_t>(count), done);
    h5::write(f, "/mean_sdm_sum", s,
              {static_cast<hsize_t>(shape.classes), static_cast<hsize_t>(shape.row_bins), 2});
    h5::write(f, "/mean_sdm_count", sum_count);
    {
      auto grp = h5::ensure_group(f, "/identity");
      for (std::size_t k = 0; k < kIdItems; ++k) h5::write_attr(grp, kIdAttr[k], identity[k].second);
    }  // (every object closed before the file: a parallel file does not close with open objects)
    f.close();
  }
  MPI_Barrier(comm);
  dist::collective_step(comm, [&] {
    if (rank == 0 && std::rename(tmp.c_str(), path.c_str()) != 0)
      throw ResourceError(
          fmt::format("cannot rename {} to {}: check the directory's permissions", tmp, path));
  });
}

void read_classify_checkpoint(const std::string& path, const CheckpointShape& shape, std::int64_t first,
                              std::int64_t count, float* prob, std::uint8_t* done, std::vector<__int128>* sum,
                              std::vector<std::int64_t>* sum_count) {
  auto f = h5::File::open(path);
  const auto d = h5::dims(f, "/probability");
  if (d != std::vector<hsize_t>{static_cast<hsize_t>(shape.windows), static_cast<hsize_t>(shape.classes)})
    throw InputError(path, "/probability does not match the window grid: delete the checkpoint and rerun");
  h5::read_rows(f, "/probability", static_cast<hsize_t>(first), static_cast<hsize_t>(count), prob);
  h5::read_rows(f, "/done", static_cast<hsize_t>(first), static_cast<hsize_t>(count), done);
  if (sum == nullptr) return;
  const auto s = h5::read<std::int64_t>(f, "/mean_sdm_sum");
  const auto n = h5::read<std::int64_t>(f, "/mean_sdm_count");
  const auto cells = static_cast<std::size_t>(shape.classes * shape.row_bins);
  if (s.size() != cells * 2 || n.size() != static_cast<std::size_t>(shape.classes))
    throw InputError(path, "/mean_sdm_sum does not match classes x bins: delete the checkpoint and rerun");
  sum->assign(cells, 0);
  for (std::size_t k = 0; k < cells; ++k)
    (*sum)[k] =
        static_cast<__int128>((static_cast<unsigned __int128>(static_cast<std::uint64_t>(s[2 * k])) << 64) |
                              static_cast<std::uint64_t>(s[2 * k + 1]));
  *sum_count = n;
}

std::optional<std::pair<std::size_t, std::string>> checkpoint_identity_mismatch(
    const std::string& path, const CheckpointIdentity& identity) {
  check_identity_size(identity);
  auto f = h5::File::open(path);
  auto grp = h5::open_object(f, "/identity");
  for (std::size_t k = 0; k < kIdItems; ++k) {
    std::string was = h5::read_attr_string(grp, kIdAttr[k]);
    if (was != identity[k].second) return std::make_pair(k, std::move(was));
  }
  return std::nullopt;
}

}  // namespace aptflow::io
