// `aptflow archive`: configuration, the MPI task farm and the per-dataset work.
// The index is assembled in archive_index.cpp, the synthetic archive in
// archive_synth.cpp, manifests in archive_manifest.cpp.
#include "aptflow/pipeline/archive.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cfenv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/dist/detail/pack.hpp"
#include "aptflow/io/sha256.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "pipeline/archive_detail.hpp"

namespace aptflow {

namespace fs = std::filesystem;
using archive_detail::DatasetRecord;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string toml_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20)
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    else
      out += c;
  }
  return out + "\"";
}

// The work list for the other ranks: length-prefixed fields (dist/detail/pack.hpp).
using dist::detail::Packer;
using dist::detail::Unpacker;

std::string pack_work(const ArchiveManifest& m, const std::vector<std::int64_t>& todo, std::int64_t nlarge,
                      std::int64_t resumed) {
  Packer p;
  p.put(m.source);
  p.put(static_cast<std::int64_t>(m.columns.size()));
  for (const auto& c : m.columns) p.put(c);
  p.put(static_cast<std::int64_t>(m.entries.size()));
  for (const auto& e : m.entries) {
    p.put(e.path);
    p.put(e.range);
    for (const auto& v : e.metadata) p.put(v);
  }
  p.put(static_cast<std::int64_t>(todo.size()));
  for (auto t : todo) p.put(t);
  p.put(nlarge);
  p.put(resumed);
  return p.buf;
}

void unpack_work(const std::string& buf, ArchiveManifest& m, std::vector<std::int64_t>& todo,
                 std::int64_t& nlarge, std::int64_t& resumed) {
  Unpacker u{buf};
  m.source = u.str();
  m.columns.resize(static_cast<std::size_t>(u.i64()));
  for (auto& c : m.columns) c = u.str();
  m.entries.resize(static_cast<std::size_t>(u.i64()));
  for (auto& e : m.entries) {
    e.path = u.str();
    e.range = u.str();
    e.metadata.resize(m.columns.size());
    for (auto& v : e.metadata) v = u.str();
  }
  todo.resize(static_cast<std::size_t>(u.i64()));
  for (auto& t : todo) t = u.i64();
  nlarge = u.i64();
  resumed = u.i64();
}

// What the per-dataset results depend on: the same hash means a result file can be reused.
std::string config_hash(const ArchiveOptions& o) {
  std::string s = fmt::format("aptflow-archive-1;mq_min={:.17g};bin_width={:.17g};bins={};drop={};chunk={};",
                              o.binning.mq_min, o.binning.bin_width, o.binning.bins, o.drop_nonfinite ? 1 : 0,
                              o.chunk_ions);
  for (const auto& [lo, hi] : o.hydrogen_windows) s += fmt::format("h=[{:.17g},{:.17g});", lo, hi);
  if (o.classify) s += "classify=" + o.classify_text;
  return io::sha256_hex(s);
}

// Is the result file of entry e complete and made from the same inputs and configuration?
bool verified(const std::optional<DatasetRecord>& r, const ArchiveEntry& e, std::int64_t index,
              const std::string& hash, const ArchiveOptions& o) {
  if (!r) return false;
  if (r->index != index || r->path != e.path || r->range != e.range || r->config_hash != hash) return false;
  if (r->status != "ok" && r->status != "failed") return false;
  if (r->status == "failed" && o.retry_failed) return false;
  if (r->status == "ok" && static_cast<std::int64_t>(r->spectrum.size()) != o.binning.bins) return false;
  if (r->status == "ok" && o.classify &&
      (r->classify_result.empty() || !fs::is_regular_file(fs::path(o.output) / r->classify_result)))
    return false;
  if (archive_detail::stamp_of(e.path) != r->input_stamp) return false;
  if (archive_detail::stamp_of(e.range) != r->range_stamp) return false;
  if (o.verify_sha256) {
    try {
      if (r->input_stamp.size >= 0 && archive_detail::sha256_file(e.path) != r->sha256) return false;
      if (r->range_stamp.size >= 0 && archive_detail::sha256_file(e.range) != r->range_sha256) return false;
    } catch (const Error&) {
      return false;
    }
  }
  return true;
}

// Process one dataset on the ranks of unit (collective over unit); the unit's
// rank 0 writes the result file. Never throws for a bad dataset; returns (on
// the unit's rank 0) the error when the result file cannot be written, which
// ends the run (a full disk is not the dataset's fault).
std::string process_dataset(MPI_Comm unit, const ArchiveOptions& o, const ArchiveEntry& e, std::int64_t index,
                            const std::string& hash) {
  int urank = 0;
  MPI_Comm_rank(unit, &urank);
  const auto t0 = Clock::now();
  DatasetRecord r;
  r.index = index;
  r.path = e.path;
  r.range = e.range;
  r.config_hash = hash;
  std::string err;
  if (urank == 0) {
    r.input_stamp = archive_detail::stamp_of(e.path);
    r.range_stamp = archive_detail::stamp_of(e.range);
    // Both hashes are attempted (the range hash also verifies a failed entry on --resume);
    // the first error is the dataset's.
    auto attempt = [&](auto&& f) {
      try {
        f();
      } catch (const Error& x) {
        if (err.empty()) err = x.what();
      } catch (const std::exception& x) {
        if (err.empty()) err = fmt::format("dataset '{}': {}", e.path, x.what());
      }
    };
    attempt([&] { r.sha256 = archive_detail::sha256_file(e.path); });
    if (e.range.empty()) {
      if (err.empty())
        err = fmt::format(
            "dataset '{}': no range file: give one in the manifest column range (or put "
            "<stem>.rrng beside the dataset)",
            e.path);
    } else {
      attempt([&] { r.range_sha256 = archive_detail::sha256_file(e.range); });
    }
  }
  err = dist::first_message(unit, err);  // collective over unit
  if (err.empty()) {
    try {
      InspectOptions io;
      io.range_file = e.range;
      io.drop_nonfinite = o.drop_nonfinite;
      io.chunk_ions = o.chunk_ions;
      io.max_peaks = 0;
      io.spectrum = o.binning;
      io.count_windows = o.hydrogen_windows;
      const InspectResult ir = inspect_dataset(unit, e.path, io);
      r.format = ir.format;
      r.ions = ir.ions;
      r.file_bytes = static_cast<std::int64_t>(ir.file_bytes);
      r.spectrum = ir.spectrum;
      r.hydrogen_counts = ir.window_counts;
      const std::int64_t h =
          std::accumulate(ir.window_counts.begin(), ir.window_counts.end(), std::int64_t{0});
      r.hydrogen = ir.ions > 0 ? static_cast<double>(h) / static_cast<double>(ir.ions) : 0.0;
      for (const auto& [el, frac] : ir.composition) {
        r.elements.push_back(el);
        r.fraction.push_back(frac);
      }
      if (ir.ranges)
        for (const auto& t : ir.ranges->ion_types) r.species.push_back(t.name);
      r.species.push_back("unranged");
      if (!ir.species_counts.empty()) {
        r.species_counts.assign(ir.species_counts.begin() + 1, ir.species_counts.end());
        r.species_counts.push_back(ir.species_counts[0]);
      } else {
        r.species_counts.assign(r.species.size(), 0);
      }
      const std::int64_t in_spectrum = std::accumulate(r.spectrum.begin(), r.spectrum.end(), std::int64_t{0});
      if (in_spectrum == 0)
        err = fmt::format(
            "dataset '{}': no ions in the spectrum range [{}, {}) Da ({} ions in the file): check "
            "spectrum.mq_min and spectrum.mq_max",
            e.path, o.binning.mq_min, o.binning.mq_min + o.binning.bins * o.binning.bin_width, ir.ions);
    } catch (const Error& x) {
      err = x.what();  // raised on every rank of unit (inspect_dataset agrees on errors)
    } catch (const std::exception& x) {
      err = fmt::format("dataset '{}': {}", e.path, x.what());  // e.g. out of memory
    }
  }
  if (err.empty() && o.classify) {
    const std::string out_rel = archive_detail::result_name(index, e.path);
    const std::string cls_rel = out_rel.substr(0, out_rel.size() - 3) + ".classify.h5";
    const std::string cls = (fs::path(o.output) / cls_rel).string();
    std::string cls_tmp = urank == 0 ? archive_detail::temp_name(cls) : std::string();
    cls_tmp = dist::bcast_string(unit, cls_tmp);  // collective over unit
    try {
      const std::string text = "input = " + toml_quote(e.path) + "\nrange = " + toml_quote(e.range) +
                               "\noutput = " + toml_quote(cls_tmp) + "\n" + o.classify_text;
      const ClassifyOptions co = parse_classify_config(Config::from_string(text, "[classify]"));
      const ClassifySummary cs = run_classify(unit, co);
      r.classify_domains = cs.domains;
      r.classify_labelled = cs.labelled_ions;
      if (urank == 0) {
        std::error_code ec;
        fs::rename(cls_tmp, cls, ec);
        if (ec) err = fmt::format("classify result '{}': cannot rename ({})", cls, ec.message());
      }
      r.classify_result = cls_rel;
    } catch (const Error& x) {
      err = std::string("classify: ") + x.what();
    }
    err = dist::first_message(unit, err);  // collective over unit
  }
  if (!err.empty()) {
    r.status = "failed";
    r.error = err;
    r.spectrum.clear();
    r.elements.clear();
    r.fraction.clear();
    r.species.clear();
    r.species_counts.clear();
    r.hydrogen_counts.clear();
    r.hydrogen = 0;
    r.classify_result.clear();
  } else {
    r.status = "ok";
  }
  r.seconds = seconds_since(t0);
  if (urank == 0) {
    try {
      archive_detail::write_record((fs::path(o.output) / archive_detail::result_name(index, e.path)).string(),
                                   r);
    } catch (const Error& x) {
      return x.what();
    }
  }
  return {};
}

bool ends_with_tmp(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
}

// Remove what a killed run left half-written: <output>/index.h5.*.tmp and datasets/*.tmp.
void remove_stale_temporaries(const std::string& output) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(output, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.rfind("index.h5.", 0) == 0 && ends_with_tmp(name)) fs::remove(it->path(), ec);
  }
  for (auto it = fs::directory_iterator(fs::path(output) / "datasets", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (ends_with_tmp(name)) fs::remove(it->path(), ec);
  }
}

class ProgressLine {
 public:
  ProgressLine(bool on, std::int64_t total) : on_(on), total_(total), t0_(Clock::now()), last_(t0_) {}
  void update(std::int64_t done, bool final = false) {
    if (!on_) return;
    const auto now = Clock::now();
    if (!final && printed_ && std::chrono::duration<double>(now - last_).count() < 1.0) return;
    last_ = now;
    printed_ = true;
    const double el = seconds_since(t0_);
    const double rate = el > 0 ? static_cast<double>(done) / el : 0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    std::fprintf(stderr, "aptflow archive: %lld/%lld datasets, %.1f datasets/h, %.0f s elapsed, ETA %.0f s\n",
                 static_cast<long long>(done), static_cast<long long>(total_), rate * 3600.0, el, eta);
    std::fflush(stderr);
  }

 private:
  bool on_, printed_ = false;
  std::int64_t total_;
  Clock::time_point t0_, last_;
};

}  // namespace

ArchiveOptions parse_archive_config(const Config& cfg) {
  ArchiveOptions o;
  o.manifest = cfg.get_string("manifest", "");
  o.root = cfg.get_string("root", "");
  if (o.manifest.empty() == o.root.empty())
    throw ConfigError(o.manifest.empty() ? "manifest" : "root",
                      "give exactly one of `manifest` (a CSV with columns path, range, ...) and `root` (a "
                      "directory to crawl)");
  o.output = cfg.get_string("output");
  if (o.output.empty()) throw ConfigError("output", "empty: give the results directory");
  const double mq_min = cfg.get_double("spectrum.mq_min", 0.0);
  const double mq_max = cfg.get_double("spectrum.mq_max", 200.0);
  const double bw = cfg.get_double("spectrum.bin_width", 0.01);
  if (!std::isfinite(mq_min) || !std::isfinite(mq_max) || !(mq_max > mq_min) || mq_min < 0)
    throw ConfigError("spectrum.mq_max",
                      fmt::format("the spectrum range [{}, {}) Da is empty or invalid: need "
                                  "0 <= mq_min < mq_max",
                                  mq_min, mq_max));
  if (!std::isfinite(bw) || !(bw > 0))
    throw ConfigError("spectrum.bin_width", "must be a positive number of Da (default 0.01)");
  const double nb = std::ceil((mq_max - mq_min) / bw - 1e-9);
  if (nb > 1e7)
    throw ConfigError("spectrum.bin_width",
                      fmt::format("{} bins is too many: use a wider bin or a smaller range", nb));
  o.binning = {mq_min, bw, static_cast<std::int64_t>(nb)};
  const auto hw = cfg.get_doubles("hydrogen.windows", std::vector<double>{0.9, 1.2, 1.9, 2.2});
  if (hw.size() % 2 != 0)
    throw ConfigError("hydrogen.windows", "give pairs lo, hi (Da): e.g. [0.9, 1.2, 1.9, 2.2] for H+ and H2+");
  o.hydrogen_windows.clear();
  for (std::size_t k = 0; k < hw.size(); k += 2) {
    if (!(hw[k + 1] > hw[k]) || !std::isfinite(hw[k]) || !std::isfinite(hw[k + 1]))
      throw ConfigError("hydrogen.windows",
                        fmt::format("window [{}, {}) is empty: need lo < hi", hw[k], hw[k + 1]));
    o.hydrogen_windows.emplace_back(hw[k], hw[k + 1]);
  }
  o.drop_nonfinite = cfg.get_bool("read.drop_nonfinite", false);
  o.chunk_ions = cfg.get_int("read.chunk_ions", o.chunk_ions);
  if (o.chunk_ions < 1) throw ConfigError("read.chunk_ions", "must be >= 1");
  const auto lb = cfg.get_int("schedule.large_bytes", static_cast<std::int64_t>(o.large_bytes));
  if (lb < 0) throw ConfigError("schedule.large_bytes", "must be >= 0 bytes");
  o.large_bytes = static_cast<std::uint64_t>(lb);
  o.group_ranks = static_cast<int>(cfg.get_int("schedule.group_ranks", o.group_ranks));
  if (o.group_ranks < 1) throw ConfigError("schedule.group_ranks", "must be >= 1 (ranks per large dataset)");

  o.pca_components = static_cast<int>(cfg.get_int("meta.pca_components", o.pca_components));
  if (o.pca_components < 2) throw ConfigError("meta.pca_components", "must be >= 2");
  o.transform = cfg.get_string("meta.transform", o.transform);
  if (o.transform != "hellinger" && o.transform != "log1p" && o.transform != "none")
    throw ConfigError("meta.transform",
                      fmt::format("'{}' is not one of hellinger, log1p, none", o.transform));
  o.tsne.perplexity = cfg.get_double("meta.perplexity", o.tsne.perplexity);
  o.tsne.iterations = static_cast<int>(cfg.get_int("meta.tsne_iterations", o.tsne.iterations));
  o.tsne.learning_rate = cfg.get_double("meta.learning_rate", o.tsne.learning_rate);
  o.spectral.clusters = static_cast<int>(cfg.get_int("meta.clusters", 0));
  o.spectral.max_clusters = static_cast<int>(cfg.get_int("meta.max_clusters", o.spectral.max_clusters));
  o.spectral.neighbours = static_cast<int>(cfg.get_int("meta.neighbours", o.spectral.neighbours));
  const auto seed = cfg.get_int("meta.seed", 0);
  if (seed < 0) throw ConfigError("meta.seed", "must be >= 0");
  o.tsne.seed = o.spectral.seed = static_cast<std::uint64_t>(seed);
  if (o.spectral.clusters < 0) throw ConfigError("meta.clusters", "must be >= 0 (0: chosen by the eigengap)");
  if (o.spectral.max_clusters < 2) throw ConfigError("meta.max_clusters", "must be >= 2");
  if (o.spectral.neighbours < 1) throw ConfigError("meta.neighbours", "must be >= 1");
  if (!(o.tsne.perplexity > 0)) throw ConfigError("meta.perplexity", "must be > 0");
  if (o.tsne.iterations < 1) throw ConfigError("meta.tsne_iterations", "must be >= 1");
  o.colour_by = cfg.get_string("meta.colour_by", "");

  if (cfg.has("classify")) {
    if (!cfg.is_table("classify"))
      throw ConfigError("classify", "must be a table ([classify] section with the classify keys)");
    for (const char* k : {"input", "range", "output"})
      if (cfg.has(std::string("classify.") + k))
        throw ConfigError(std::string("classify.") + k,
                          "set per dataset by the archive: remove it from the [classify] section");
    Config section = Config::from_string(cfg.table_to_toml("classify"), "[classify]");
    if (!section.has("progress")) section.set("progress", "false");
    o.classify = true;
    o.classify_text = section.to_toml();
    cfg.mark_used("classify");
    // Validate the section now (a typo must not cost a whole archive run).
    try {
      (void)parse_classify_config(Config::from_string(
          "input = \"x\"\nrange = \"x\"\noutput = \"x\"\n" + o.classify_text, "[classify]"));
    } catch (const ConfigError& e) {
      throw ConfigError("classify." + e.key(), e.what());
    }
  }
  const std::string verify = cfg.get_string("resume.verify", "stat");
  if (verify != "stat" && verify != "sha256")
    throw ConfigError("resume.verify", fmt::format("'{}' is not one of stat (size + mtime), sha256", verify));
  o.verify_sha256 = verify == "sha256";
  o.retry_failed = cfg.get_bool("resume.retry_failed", false);
  o.progress = cfg.get_bool("progress", true);
  cfg.check_all_used();
  {
    std::fenv_t env;
    std::feholdexcept(&env);
    o.config_text = cfg.to_toml();
    std::fesetenv(&env);
  }
  return o;
}

ArchiveSummary run_archive(MPI_Comm comm_in, const ArchiveOptions& o) {
  const auto t0 = Clock::now();
  MPI_Comm comm;
  MPI_Comm_dup(comm_in, &comm);  // collective
  struct CommGuard {
    MPI_Comm* c;
    ~CommGuard() { MPI_Comm_free(c); }
  } guard{&comm};
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);

  // ---- rank 0: the manifest, the output directory, what is left to do.
  ArchiveManifest manifest;
  std::vector<std::int64_t> todo;  // manifest rows, largest file first
  std::int64_t nlarge = 0, resumed = 0;
  const std::string hash = config_hash(o);
  std::string payload;
  std::exception_ptr setup_error;
  if (rank == 0) {
    try {
      manifest = !o.manifest.empty() ? read_manifest(o.manifest) : crawl_archive(o.root, o.output);
      if (!o.colour_by.empty() &&
          std::find(manifest.columns.begin(), manifest.columns.end(), o.colour_by) == manifest.columns.end())
        throw ConfigError("meta.colour_by",
                          fmt::format("'{}' is not a metadata column of {} (columns: {})", o.colour_by,
                                      manifest.source, fmt::join(manifest.columns, ", ")));
      std::error_code ec;
      fs::create_directories(fs::path(o.output) / "datasets", ec);
      if (ec)
        throw ResourceError(fmt::format("output directory '{}': cannot create ({}): check the key `output`",
                                        o.output, ec.message()));
      remove_stale_temporaries(o.output);
      std::vector<std::pair<std::int64_t, std::int64_t>> sized;  // (bytes, row)
      for (std::size_t i = 0; i < manifest.entries.size(); ++i) {
        const auto& e = manifest.entries[i];
        const auto row = static_cast<std::int64_t>(i);
        const std::string file = (fs::path(o.output) / archive_detail::result_name(row, e.path)).string();
        if (o.resume && verified(archive_detail::read_record(file), e, row, hash, o)) {
          ++resumed;
          continue;
        }
        fs::remove(file, ec);  // stale or from another configuration
        sized.emplace_back(std::max<std::int64_t>(archive_detail::stamp_of(e.path).size, 0), row);
      }
      std::stable_sort(sized.begin(), sized.end(), [](auto& a, auto& b) { return a.first > b.first; });
      for (const auto& [bytes, row] : sized) {
        todo.push_back(row);
        if (static_cast<std::uint64_t>(bytes) >= o.large_bytes) ++nlarge;
      }
      payload = pack_work(manifest, todo, nlarge, resumed);
    } catch (...) {
      setup_error = std::current_exception();
    }
  }
  dist::agree_on_error(comm, setup_error);      // collective: names the file and what to do
  payload = dist::bcast_string(comm, payload);  // collective
  if (rank != 0) {
    unpack_work(payload, manifest, todo, nlarge, resumed);
  }
  const auto ntodo = static_cast<std::int64_t>(todo.size());

  // ---- the task farm. Counters on rank 0: next large task, next small task, done.
  std::int64_t* counters = nullptr;
  MPI_Win win;
  MPI_Win_allocate(rank == 0 ? 3 * sizeof(std::int64_t) : 0, sizeof(std::int64_t), MPI_INFO_NULL, comm,
                   &counters,
                   &win);  // collective
  if (rank == 0) {
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win);
    counters[0] = 0, counters[1] = nlarge, counters[2] = 0;
    MPI_Win_unlock(0, win);
  }
  MPI_Barrier(comm);  // collective: counters initialised
  auto fetch_add = [&](int which, std::int64_t add) {
    std::int64_t old = 0;
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
    MPI_Fetch_and_op(&add, &old, MPI_INT64_T, 0, which, MPI_SUM, win);
    MPI_Win_unlock(0, win);
    return old;
  };

  ProgressLine progress(o.progress && rank == 0, ntodo);
  bool stopped = false;
  std::string fatal;  // a result file that could not be written (this rank)
  // One phase: units (communicators) fetch rows [begin, end) of todo until none is left.
  auto run_phase = [&](MPI_Comm unit, int which, std::int64_t end) {
    int urank = 0;
    MPI_Comm_rank(unit, &urank);
    for (;;) {
      std::int64_t t = -1;
      if (urank == 0) {
        if (o.stop && *o.stop) stopped = true;
        if (!stopped) {
          t = fetch_add(which, 1);
          if (t >= end) t = -1;
        }
      }
      MPI_Bcast(&t, 1, MPI_INT64_T, 0, unit);  // collective over the unit
      if (t < 0) break;
      const std::int64_t row = todo[static_cast<std::size_t>(t)];
      const std::string write_error =
          process_dataset(unit, o, manifest.entries[static_cast<std::size_t>(row)], row, hash);
      if (!write_error.empty()) {
        if (fatal.empty()) fatal = write_error;
        stopped = true;  // start no new dataset; the run ends with this error
        continue;
      }
      if (urank == 0) {
        const std::int64_t done = fetch_add(2, 1) + 1;
        if (rank == 0) progress.update(done);
      }
    }
    int s = stopped ? 1 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_INT, MPI_MAX, unit);  // collective over the unit
    stopped = s != 0;
  };
  if (nlarge > 0) {
    // Groups of group_ranks consecutive ranks share the large datasets (largest first).
    const int g = std::max(1, std::min(o.group_ranks, size));
    MPI_Comm group;
    MPI_Comm_split(comm, rank / g, rank, &group);  // collective
    run_phase(group, 0, nlarge);
    MPI_Comm_free(&group);
  }
  run_phase(MPI_COMM_SELF, 1, ntodo);

  std::int64_t done = 0;
  int any_stopped = stopped ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &any_stopped, 1, MPI_INT, MPI_MAX, comm);  // collective: all datasets finished
  if (rank == 0) {
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
    done = counters[2];
    MPI_Win_unlock(0, win);
    progress.update(done, true);
  }
  MPI_Win_free(&win);                              // collective
  MPI_Bcast(&done, 1, MPI_INT64_T, 0, comm);       // collective
  fatal = dist::first_message(comm, fatal);        // collective
  if (!fatal.empty()) throw ResourceError(fatal);  // on every rank; finished result files are kept

  ArchiveSummary s;
  s.datasets = static_cast<std::int64_t>(manifest.entries.size());
  s.processed = done;
  s.resumed = resumed;
  s.interrupted = done < ntodo;
  if (!s.interrupted) {
    std::int64_t counts[3] = {0, 0, 0};
    dist::collective_step(comm, [&] {
      if (rank != 0) return;
      const auto c = archive_detail::write_index(o, manifest);
      counts[0] = c.ok, counts[1] = c.failed, counts[2] = c.clusters;
    });
    MPI_Bcast(counts, 3, MPI_INT64_T, 0, comm);  // collective
    s.ok = counts[0], s.failed = counts[1], s.clusters = counts[2];
    s.index = (fs::path(o.output) / "index.h5").string();
  }
  (void)any_stopped;
  s.seconds = seconds_since(t0);
  MPI_Bcast(&s.seconds, 1, MPI_DOUBLE, 0, comm);  // collective
  return s;
}

}  // namespace aptflow
