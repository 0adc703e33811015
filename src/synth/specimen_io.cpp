// Writing a synthetic specimen: POS (io::CloudWriter, collective), RRNG text
// and the ground-truth HDF5 file.
#include <filesystem>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/synth/specimen.hpp"

namespace aptflow::synth {

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

  // Rank 0 creates the directory and writes the RRNG; every rank throws together.
  dist::collective_step(comm, [&] {
    if (rank != 0) return;
    try {
      std::filesystem::create_directories(dir);
    } catch (const std::filesystem::filesystem_error& e) {
      throw ResourceError(e.what());
    }
    write_rrng(files.rrng, gen.range_table());
  });

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

  io::CloudWriter pos(files.pos, io::Format::pos, comm);
  // Ground-truth datasets and groups are created without HDF5 object
  // timestamps (h5::create_dataset) so that the file's bytes depend only on the
  // config: the same specimen gives the same file at any time, on any number
  // of ranks.
  auto h5f = h5::File::create(files.truth, comm);
  const auto N = static_cast<hsize_t>(total);
  h5::create_dataset<std::int64_t>(h5f, "/ions/domain_id", {N});  // collective
  h5::create_dataset<std::int32_t>(h5f, "/ions/class", {N});      // collective
  std::int64_t at = first;
  for (std::int64_t r = 0; r < max_rounds; ++r) {
    SpecimenSlab slab;
    if (r < rounds)
      slab = gen.generate_slab(chunks[static_cast<std::size_t>(r)].first,
                               chunks[static_cast<std::size_t>(r)].second);
    const auto n = static_cast<hsize_t>(slab.domain_id.size());
    pos.write_at(at, slab.ions);  // collective
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
  h5::create_dataset<double>(h5f, "/domains/centre", {nd, 3});
  h5::create_dataset<double>(h5f, "/domains/radii", {nd, 3});
  h5::create_dataset<std::int32_t>(h5f, "/domains/class", {nd});
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
