// aptflow convert IN OUT [--format F] [--to T] [--range R] [--drop-nonfinite] [--json]:
// any readable point-cloud format to any writable one, streaming in blocks,
// MPI-parallel: round k gives block k * p + r to rank r, and the collective
// append stores the blocks of one round in rank order, so the output is the
// input in file order, byte-identical for any rank count (POS, EPOS, APT,
// text; HDF5 holds the same values).
// Nothing is left at OUT on bad input: the data goes to OUT.aptflow-part and
// is renamed at the end.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "aptflow/core/error.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/pipeline/inspect.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {

struct ConvertArgs {
  std::string in, out, format, to, range;
  bool drop_nonfinite = false, json = false;
  std::int64_t block = std::int64_t{1} << 20;
};

void convert(const ConvertArgs& a) {
  MPI_Comm comm = MPI_COMM_WORLD;
  const int rank = Runtime::world_rank(), size = Runtime::world_size();
  io::ReadOptions ropt;
  ropt.nonfinite = a.drop_nonfinite ? io::NonFinite::drop : io::NonFinite::error;
  if (!a.format.empty()) ropt.format = io::parse_format(a.format, "--format");
  if (a.block <= 0) throw ConfigError("--block", fmt::format("must be positive, got {}", a.block));
  ropt.chunk_ions = a.block;

  // Output format: --to, else the extension of OUT.
  io::Format to;
  if (!a.to.empty()) {
    to = io::parse_format(a.to, "--to");
  } else if (auto f = io::format_from_extension(a.out)) {
    to = *f;
  } else {
    throw ConfigError("--to",
                      fmt::format("cannot tell the output format from the name '{}': give --to (pos, epos, "
                                  "apt, text, h5, nxapm) or use the extension .pos, .epos, .apt, .csv, .txt, "
                                  ".h5 or .nxs",
                                  a.out));
  }
  if (!io::format_writable(to))
    throw ConfigError("--to",
                      fmt::format("aptflow cannot write {} files: choose pos, epos, apt, text, h5 or nxapm",
                                  io::format_name(to)));
  const bool stores_ranges = to == io::Format::h5 || to == io::Format::nxapm;
  if (!a.range.empty() && !stores_ranges)
    throw ConfigError("--range",
                      fmt::format("{} files cannot hold ranging: drop --range or convert to h5 or nxapm",
                                  io::format_name(to)));
  {
    std::error_code ec;
    if (std::filesystem::equivalent(a.in, a.out, ec))
      throw ConfigError("OUT", fmt::format("'{}' is the input file: give another output path", a.out));
  }

  io::DatasetReader reader(a.in, ropt);  // every rank: a bad input fails everywhere alike
  const io::DatasetInfo& info = reader.info();
  // Ranging: --range, else what the input holds (when the output can store it).
  std::optional<RangeTable> table;
  if (!a.range.empty())
    table = read_range_file(a.range);
  else if (stores_ranges)
    table = io::read_h5_ranges(a.in);
  std::optional<DeviceRangeTable<Kokkos::HostSpace>> dtable;
  if (table) dtable = make_device_range_table<Kokkos::HostSpace>(*table);
  const bool extras =
      info.has_extras && (to == io::Format::epos || to == io::Format::apt || to == io::Format::h5);

  const IonIndex n = info.ions, block = a.block;
  const IonIndex nblocks = (n + block - 1) / block;
  // APT needs the total up front: with dropped records, count them first.
  IonIndex total = n;
  if (to == io::Format::apt && a.drop_nonfinite) {
    std::exception_ptr err;
    IonIndex kept = 0;
    try {
      HostIonCloud buf;
      for (IonIndex b = rank; b < nblocks; b += size)
        kept += reader.read_into(b * block, std::min(block, n - b * block), buf);
    } catch (...) {
      err = std::current_exception();
    }
    dist::agree_on_error(comm, err);
    MPI_Allreduce(&kept, &total, 1, MPI_INT64_T, MPI_SUM, comm);  // collective
  }

  const std::string part = a.out + ".aptflow-part";
  const MPI_Comm wcomm = size > 1 ? comm : MPI_COMM_NULL;
  IonIndex written = 0;
  io::ReadStats stats;
  std::exception_ptr err;
  {
    std::unique_ptr<io::CloudWriter> w;
    try {
      w = std::make_unique<io::CloudWriter>(part, to, wcomm, extras, table ? &*table : nullptr, total);
    } catch (...) {
      err = std::current_exception();
    }
    dist::agree_on_error(comm, err);
    Kokkos::DefaultHostExecutionSpace exec;
    HostIonCloud buf;
    try {
      for (IonIndex round = 0; round * size < nblocks; ++round) {
        // Read (errors agreed before the collective append).
        const IonIndex b = round * size + rank;
        IonIndex m = 0;
        try {
          if (b < nblocks) m = reader.read_into(b * block, std::min(block, n - b * block), buf, &stats);
          if (m > 0 && dtable) {
            HostIonCloud view = buf;
            apply_ranges(exec, view, *dtable);
            exec.fence();
          }
        } catch (...) {
          err = std::current_exception();
        }
        dist::agree_on_error(comm, err);
        // A view of the first m ions (the buffer keeps its extent).
        HostIonCloud chunk;
        using F = decltype(buf.x);
        using U = decltype(buf.extras.multiplicity);
        chunk.x = F(buf.x.data(), m), chunk.y = F(buf.y.data(), m), chunk.z = F(buf.z.data(), m);
        chunk.mq = F(buf.mq.data(), m);
        chunk.species = decltype(buf.species)(buf.species.data(), m);
        if (extras && m > 0) {
          auto& e = buf.extras;
          chunk.extras = {F(e.tof.data(), m),         F(e.v_dc.data(), m),  F(e.v_pulse.data(), m),
                          F(e.x_det.data(), m),       F(e.y_det.data(), m), U(e.pulses_since_last.data(), m),
                          U(e.multiplicity.data(), m)};
        }
        w->append(chunk);
      }
      w->close();
      written = w->written();
    } catch (...) {
      w.reset();
      if (rank == 0) std::filesystem::remove(part);
      throw;
    }
  }
  MPI_Barrier(comm);  // collective: every rank has closed the file
  if (rank == 0) std::filesystem::rename(part, a.out);
  IonIndex dropped = stats.dropped;
  MPI_Allreduce(MPI_IN_PLACE, &dropped, 1, MPI_INT64_T, MPI_SUM, comm);  // collective
  if (rank != 0) return;
  if (a.json) {
    nlohmann::ordered_json j;
    j["input"] = {{"file", a.in}, {"format", std::string(io::format_name(info.format))}, {"ions", n}};
    j["output"] = {{"file", a.out}, {"format", std::string(io::format_name(to))}, {"ions", written}};
    j["nonfinite_dropped"] = dropped;
    j["extras"] = extras;
    j["ranges"] = table ? nlohmann::ordered_json(table->source) : nlohmann::ordered_json(nullptr);
    j["ranks"] = size;
    std::puts(j.dump(2).c_str());
  } else {
    std::fputs(fmt::format("aptflow convert: {} ({}, {} ions) -> {} ({}, {} ions{}{}{})\n", a.in,
                           io::format_name(info.format), n, a.out, io::format_name(to), written,
                           extras ? ", with extras" : "", table ? ", ranges from " + table->source : "",
                           dropped ? fmt::format(", {} non-finite dropped", dropped) : "")
                   .c_str(),
               stdout);
  }
}

}  // namespace

void register_convert(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  auto* sub = app.add_subcommand(
      "convert",
      "Convert a point cloud between formats (read: pos, epos, apt, ato, text, h5, nxapm, cameca; write: "
      "pos, "
      "epos, apt, text, h5, nxapm), streaming and MPI-parallel; --range adds ranging (h5, nxapm)");
  sub->add_option("input", a->in, "input point-cloud file (format detected from its content)")->required();
  sub->add_option("output", a->out, "output file (format from --to or its extension)")->required();
  sub->add_option(
      "--format", a->format,
      "force the input format instead of detecting it: pos, epos, apt, ato, text, h5, nxapm, cameca");
  sub->add_option("--to", a->to,
                  "output format: pos, epos, apt, text, h5, nxapm (default: from OUT's extension)");
  sub->add_option(
      "--range,-r", a->range,
      "range file to store with the output and to range its ions (h5, nxapm; default: the input's "
      "ranging, if any)");
  sub->add_flag("--drop-nonfinite", a->drop_nonfinite,
                "leave out ions with NaN/Inf coordinates or m/q (counted) instead of failing");
  sub->add_option("--block", a->block, "ions per block and rank (default 1048576)");
  sub->add_flag("--json", a->json, "print one JSON object instead of the summary line");
  sub->callback([a] { convert(*a); });
}

}  // namespace aptflow::cli
