// Writing a synthetic specimen: POS (private collective MPI-IO writer), RRNG
// text and the ground-truth HDF5 file. The POS/RRNG writers are local to synth
// until the shared io writers are merged.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/synth/specimen.hpp"

namespace aptflow::synth {

namespace {

std::uint32_t to_big_endian(float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, 4);
  if constexpr (std::endian::native == std::endian::little) u = __builtin_bswap32(u);
  return u;
}

void check_mpi(int rc, const std::string& what, const std::string& path) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw ResourceError(fmt::format("'{}': {} failed: {} (check the output directory and free disk space)",
                                  path, what, std::string(msg, static_cast<std::size_t>(len))));
}

// Private collective POS writer: 16 bytes per ion, big-endian float32 x, y, z, m/q.
class PosWriter {
 public:
  PosWriter(MPI_Comm comm, const std::string& path, std::int64_t total_ions) : path_(path) {
    // Collective: every rank opens the file; the size truncates an old file.
    check_mpi(MPI_File_open(comm, path.c_str(), MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh_),
              "opening the POS file for writing", path);
    check_mpi(MPI_File_set_size(fh_, static_cast<MPI_Offset>(total_ions) * 16), "sizing the POS file", path);
    MPI_Type_contiguous(16, MPI_BYTE, &record_);
    MPI_Type_commit(&record_);
  }
  ~PosWriter() {
    if (fh_ != MPI_FILE_NULL) MPI_File_close(&fh_);
    MPI_Type_free(&record_);
  }
  PosWriter(const PosWriter&) = delete;
  PosWriter& operator=(const PosWriter&) = delete;

  // Collective: this rank writes ions [first, first + n) of the file (n may be 0).
  void write(std::int64_t first, const HostIonCloud& ions) {
    const auto n = ions.size();
    buf_.resize(static_cast<std::size_t>(n) * 4);
    for (IonIndex q = 0; q < n; ++q) {
      buf_[4 * q + 0] = to_big_endian(ions.x(q));
      buf_[4 * q + 1] = to_big_endian(ions.y(q));
      buf_[4 * q + 2] = to_big_endian(ions.z(q));
      buf_[4 * q + 3] = to_big_endian(ions.mq(q));
    }
    MPI_Status st;
    check_mpi(MPI_File_write_at_all(fh_, static_cast<MPI_Offset>(first) * 16, buf_.data(),
                                    static_cast<int>(n), record_, &st),
              "writing the POS file", path_);
  }
  void close() {
    check_mpi(MPI_File_close(&fh_), "closing the POS file", path_);
    fh_ = MPI_FILE_NULL;
  }

 private:
  std::string path_;
  MPI_File fh_ = MPI_FILE_NULL;
  MPI_Datatype record_ = MPI_DATATYPE_NULL;
  std::vector<std::uint32_t> buf_;
};

// Ground-truth datasets are created without HDF5 object timestamps
// (H5Pset_obj_track_times off) so that the file's bytes depend only on the
// config: the same specimen gives the same file at any time, on any number of ranks.
template <class T>
void create_untimed(const h5::File& f, const std::string& group, const std::string& name,
                    const std::vector<hsize_t>& shape) {
  if (!h5::exists(f, group)) {
    h5::Handle gcpl(H5Pcreate(H5P_GROUP_CREATE));
    H5Pset_obj_track_times(gcpl, 0);
    h5::Handle g(H5Gcreate2(f, group.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT));
    if (!g.valid()) throw ResourceError(fmt::format("'{}': cannot create group '{}'", f.path(), group));
  }
  h5::Handle space(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr));
  h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl, 0);
  const std::string path = group + "/" + name;
  h5::Handle d(H5Dcreate2(f, path.c_str(), h5::native_type<T>(), space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  if (!d.valid())
    throw ResourceError(fmt::format("'{}': cannot create dataset '{}' (disk full?)", f.path(), path));
}

}  // namespace

SpecimenFiles write_specimen(MPI_Comm comm, const Config& cfg, const std::string& out_dir) {
  SpecimenGenerator gen(cfg);
  return write_specimen(comm, gen, out_dir);
}

SpecimenFiles write_specimen(MPI_Comm comm, const SpecimenGenerator& gen, const std::string& out_dir,
                             std::int64_t chunk_ions) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const auto& S = gen.spec();
  SpecimenFiles files;
  const std::filesystem::path dir(out_dir);
  files.pos = (dir / (S.name + ".pos")).string();
  files.rrng = (dir / (S.name + ".rrng")).string();
  files.truth = (dir / (S.name + "_truth.h5")).string();
  files.num_domains = static_cast<std::int64_t>(gen.domains().size());

  // Rank 0 creates the directory and writes the RRNG; the status is shared so
  // that every rank throws together.
  int ok = 1;
  std::string why;
  if (rank == 0) {
    try {
      std::filesystem::create_directories(dir);
      write_rrng(files.rrng, gen.range_table());
    } catch (const std::exception& e) {
      ok = 0;
      why = e.what();
    }
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm);  // collective
  if (!ok)
    throw ResourceError(rank == 0 ? why : fmt::format("'{}': rank 0 could not prepare the output", out_dir));

  // Slabs of this rank (contiguous), their ion counts, and chunks of slabs.
  const std::int64_t nz = gen.num_slabs();
  const std::int64_t s0 = nz * rank / size, s1 = nz * (rank + 1) / size;
  std::vector<std::int64_t> counts;
  for (auto iz = s0; iz < s1; ++iz) counts.push_back(gen.count_slab(iz, iz + 1));
  std::vector<std::pair<std::int64_t, std::int64_t>> chunks;  // [begin, end) slabs
  {
    std::int64_t begin = s0, acc = 0;
    for (auto iz = s0; iz < s1; ++iz) {
      acc += counts[static_cast<std::size_t>(iz - s0)];
      if (acc >= chunk_ions || iz + 1 == s1) {
        chunks.emplace_back(begin, iz + 1);
        begin = iz + 1;
        acc = 0;
      }
    }
  }
  std::int64_t local = 0;
  for (auto c : counts) local += c;
  std::int64_t first = 0, total = 0;
  MPI_Exscan(&local, &first, 1, MPI_INT64_T, MPI_SUM, comm);  // collective
  if (rank == 0) first = 0;
  MPI_Allreduce(&local, &total, 1, MPI_INT64_T, MPI_SUM, comm);  // collective
  std::int64_t rounds = static_cast<std::int64_t>(chunks.size()), max_rounds = 0;
  MPI_Allreduce(&rounds, &max_rounds, 1, MPI_INT64_T, MPI_MAX, comm);  // collective
  files.num_ions = total;

  PosWriter pos(comm, files.pos, total);
  auto h5f = h5::File::create(files.truth, comm);
  const auto N = static_cast<hsize_t>(total);
  create_untimed<std::int64_t>(h5f, "/ions", "domain_id", {N});  // collective
  create_untimed<std::int32_t>(h5f, "/ions", "class", {N});      // collective
  std::int64_t at = first;
  for (std::int64_t r = 0; r < max_rounds; ++r) {
    SpecimenSlab slab;
    if (r < rounds)
      slab = gen.generate_slab(chunks[static_cast<std::size_t>(r)].first,
                               chunks[static_cast<std::size_t>(r)].second);
    const auto n = static_cast<hsize_t>(slab.domain_id.size());
    pos.write(at, slab.ions);  // collective
    h5::write_rows<std::int64_t>(h5f, "/ions/domain_id", static_cast<hsize_t>(at), n,
                                 slab.domain_id.data());  // collective
    h5::write_rows<std::int32_t>(h5f, "/ions/class", static_cast<hsize_t>(at), n,
                                 slab.class_id.data());  // collective
    at += static_cast<std::int64_t>(n);
  }
  pos.close();

  // Domains and provenance (collective; rank 0's data is written).
  const auto& doms = gen.domains();
  const auto nd = static_cast<hsize_t>(doms.size());
  std::vector<double> centre, radii;
  std::vector<std::int32_t> cls;
  for (const auto& d : doms) {
    centre.insert(centre.end(), d.centre.begin(), d.centre.end());
    radii.insert(radii.end(), d.semi_axes.begin(), d.semi_axes.end());
    cls.push_back(d.class_id);
  }
  const hsize_t mine = rank == 0 ? nd : 0;
  create_untimed<double>(h5f, "/domains", "centre", {nd, 3});
  create_untimed<double>(h5f, "/domains", "radii", {nd, 3});
  create_untimed<std::int32_t>(h5f, "/domains", "class", {nd});
  h5::write_rows<double>(h5f, "/domains/centre", 0, mine, centre.data());
  h5::write_rows<double>(h5f, "/domains/radii", 0, mine, radii.data());
  h5::write_rows<std::int32_t>(h5f, "/domains/class", 0, mine, cls.data());
  h5::write_attr(h5f.id(), "class_names", S.class_names);
  h5::write_attr(h5f.id(), "species", S.species);
  h5::write_attr(h5f.id(), "config", S.config_text);
  h5::write_attr(h5f.id(), "seed", static_cast<std::int64_t>(S.seed));
  h5::write_attr(h5f.id(), "sample", static_cast<std::int64_t>(S.sample));
  h5::write_attr(h5f.id(), "num_ions", total);
  h5f.close();
  return files;
}

}  // namespace aptflow::synth
