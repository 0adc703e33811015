// NeXus NXapm (the FAIRmat / NOMAD standard for atom probe data, written by
// pynxtools-apm and paraprobe) and the ranging of Cameca's HDF5 export.
//
// NXapm (NeXus definitions, applications/NXapm.nxdl.xml):
//   /<entry> (NXentry, definition = "NXapm")
//     <atom_probe> (NXroi_process; "atom_probe", or atom_probe1, 2, ...)
//       reconstruction/reconstructed_positions       (n, 3) float, nm
//       mass_to_charge_conversion/mass_to_charge     (n) float, Da
//       ranging/peak_identification/                 (NXprocess)
//         number_of_ion_types, maximum_number_of_atoms_per_molecular_ion
//         ion0 ... ionK (NXatom): nuclide_hash (32) uint16, charge_state
//           int8, mass_to_charge_range (m, 2) Da, name; ion0 is reserved
//           for unranged ions
//         iontypes (n) uint: 0 unranged, k = ionk
// nuclide_hash: one entry per atom of the ion, Z + 256 N, sorted descending,
// zero-padded to 32; N = 255 (or 0 in files before NXapm's NIAC version)
// means "the element, any isotope".
//
// Cameca HDF5 export (/xyz, /mass, /ranges/range_N with attributes element,
// min_da, max_da).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "aptflow/core/error.hpp"
#include "aptflow/io/detail/readers.hpp"
#include "aptflow/io/h5.hpp"
#include "io/range_file_detail.hpp"

namespace aptflow::io::detail {

namespace {

constexpr std::size_t kHashLength = 32;
constexpr int kNeutronsForElement = 255;

std::vector<std::uint16_t> nuclide_hash(const IonType& t, const std::string& source) {
  std::vector<std::uint16_t> hash;
  for (const auto& [el, n] : t.composition) {
    const int z = aptflow::detail::atomic_number(el);
    // D and T are hydrogen isotopes (N = 1, 2); the others "any isotope".
    const int neutrons = el == "D" ? 1 : el == "T" ? 2 : kNeutronsForElement;
    for (int k = 0; k < n; ++k) hash.push_back(static_cast<std::uint16_t>(z + 256 * neutrons));
  }
  if (hash.size() > kHashLength)
    throw InputError(source, fmt::format("ion type '{}' has {} atoms; NXapm stores at most {} per ion",
                                         t.name, hash.size(), kHashLength));
  std::sort(hash.begin(), hash.end(), std::greater<>());
  hash.resize(kHashLength, 0);
  return hash;
}

// Composition from a nuclide hash; InputError naming the dataset for values
// that are not nuclides.
Composition composition_of(const std::vector<std::uint16_t>& hash, const std::string& file,
                           const std::string& path) {
  Composition c;
  for (auto h : hash) {
    if (h == 0) continue;
    const int z = h % 256, neutrons = h / 256;
    std::string el = aptflow::detail::element_symbol(z);
    if (el.empty())
      throw InputError(file,
                       fmt::format("{}: nuclide hash {} has proton number {}, not an element", path, h, z));
    if (z == 1 && neutrons == 1) el = "D";
    if (z == 1 && neutrons == 2) el = "T";
    c.emplace_back(el, 1);
  }
  return canonical_composition(std::move(c));
}

// "ion12" -> 12; -1 for other names.
long long numbered(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size() || name.size() > prefix.size() + 9)
    return -1;
  long long v = -1;
  auto [p, ec] = std::from_chars(name.data() + prefix.size(), name.data() + name.size(), v);
  if (ec != std::errc() || p != name.data() + name.size()) return -1;
  return v;
}

std::vector<std::pair<long long, std::string>> numbered_members(const h5::File& f, const std::string& group,
                                                                const std::string& prefix) {
  std::vector<std::pair<long long, std::string>> out;
  for (const auto& m : h5::list_group(f, group)) {
    const long long k = numbered(m, prefix);
    if (k >= 0 && h5::is_group(f, group + "/" + m)) out.emplace_back(k, group + "/" + m);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void check_bounds(double lo, double hi, const std::string& file, const std::string& where) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo < 0 || !(lo < hi))
    throw InputError(
        file,
        fmt::format("{}: range [{}, {}) Da is not an interval 0 <= lo < hi: fix the ranging", where, lo, hi));
}

}  // namespace

void nxapm_groups(const h5::File& f, bool ranging) {
  auto root = h5::open_object(f, "/");
  h5::write_attr(root, "NX_class", std::string("NXroot"));
  h5::write_attr(root, "default", std::string("entry1"));
  h5::ensure_nx_group(f, "/entry1", "NXentry");
  h5::write_string(f, "/entry1/definition", "NXapm");
  const std::string g = kNxapmGroup;
  h5::ensure_nx_group(f, g, "NXroi_process");
  h5::ensure_nx_group(f, g + "/reconstruction", "NXapm_reconstruction");
  h5::ensure_nx_group(f, g + "/mass_to_charge_conversion", "NXprocess");
  if (ranging) {
    h5::ensure_nx_group(f, g + "/ranging", "NXapm_ranging");
    h5::ensure_nx_group(f, g + "/ranging/peak_identification", "NXprocess");
  }
}

void write_nxapm_ranging(const h5::File& f, const std::string& ranging_group, const RangeTable& t) {
  const std::string pk = ranging_group + "/peak_identification";
  h5::ensure_nx_group(f, pk, "NXprocess");
  h5::write<std::uint32_t>(f, pk + "/number_of_ion_types", {static_cast<std::uint32_t>(t.num_types())});
  h5::write<std::uint32_t>(f, pk + "/maximum_number_of_atoms_per_molecular_ion",
                           {static_cast<std::uint32_t>(kHashLength)});
  auto write_ion = [&](std::size_t k, const std::vector<std::uint16_t>& hash,
                       const std::vector<double>& ranges, const std::string& name) {
    const std::string g = fmt::format("{}/ion{}", pk, k);
    h5::ensure_nx_group(f, g, "NXatom");
    h5::write<std::uint16_t>(f, g + "/nuclide_hash", hash);
    h5::write<std::int8_t>(f, g + "/charge_state", {0});
    h5::write<double>(f, g + "/mass_to_charge_range", ranges, {ranges.size() / 2, 2});
    auto d = h5::open_object(f, g + "/mass_to_charge_range");
    h5::write_attr(d, "units", std::string("Da"));
    h5::write_string(f, g + "/name", name);
  };
  // ion0: unranged (no nuclides; a range below every real m/q).
  write_ion(0, std::vector<std::uint16_t>(kHashLength, 0), {0.0, 0.0005}, "unknown type");
  for (std::size_t k = 0; k < t.num_types(); ++k) {
    std::vector<double> r;
    for (const auto& m : t.ranges)
      if (static_cast<std::size_t>(m.ion_type) == k) r.insert(r.end(), {m.lo, m.hi});
    write_ion(k + 1, nuclide_hash(t.ion_types[k], t.source), r, t.ion_types[k].name);
  }
}

std::optional<RangeTable> read_nxapm_ranges(const h5::File& f, const std::string& cloud_group,
                                            const RangeOptions& opt) {
  const std::string pk = cloud_group + "/ranging/peak_identification";
  if (!h5::is_group(f, pk)) return std::nullopt;
  const auto ions = numbered_members(f, pk, "ion");
  aptflow::detail::RangeTableBuilder b(f.path(), opt, "ion");
  std::size_t nranges = 0;
  for (const auto& [k, g] : ions) {
    if (k == 0) continue;                                           // ion0: reserved for unranged ions
    if (!h5::is_dataset(f, g + "/mass_to_charge_range")) continue;  // an ion type without ranges
    Composition comp;
    if (h5::is_dataset(f, g + "/nuclide_hash"))
      comp = composition_of(h5::read<std::uint16_t>(f, g + "/nuclide_hash"), f.path(), g + "/nuclide_hash");
    std::string name;
    if (h5::is_dataset(f, g + "/name")) {
      try {
        const auto names = h5::read_strings(f, g + "/name");
        if (!names.empty()) name = names.front();
      } catch (const InputError&) {
      }
    }
    if (name.empty() || name.find_first_of(" \t:=") != std::string::npos) name = fmt::format("ion{}", k);
    std::vector<hsize_t> shape;
    const auto r = h5::read<double>(f, g + "/mass_to_charge_range", &shape);
    if (!(shape.size() == 2 && shape[1] == 2) && !(shape.size() == 1 && shape[0] == 2))
      throw InputError(f.path(),
                       fmt::format("{}/mass_to_charge_range must have shape (m, 2): fix the ranging", g));
    const int type = b.intern_type(comp, comp.empty() ? name : "", "", 0, k);
    b.declare(comp.empty() ? name : formula_of(comp));
    for (std::size_t i = 0; i + 1 < r.size(); i += 2) {
      check_bounds(r[i], r[i + 1], f.path(), g + "/mass_to_charge_range");
      b.add_range(r[i], r[i + 1], type, k);
      ++nranges;
    }
  }
  if (nranges == 0) return std::nullopt;
  RangeTable t = b.finish(0);
  t.source = f.path();
  return t;
}

std::optional<RangeTable> read_cameca_ranges(const h5::File& f, const RangeOptions& opt) {
  if (!h5::is_group(f, "/ranges")) return std::nullopt;
  aptflow::detail::RangeTableBuilder b(f.path(), opt, "range");
  std::size_t nranges = 0;
  for (const auto& [k, g] : numbered_members(f, "/ranges", "range_")) {
    auto o = h5::open_object(f, g);
    if (!h5::has_attr(o, "element") || !h5::has_attr(o, "min_da") || !h5::has_attr(o, "max_da"))
      throw InputError(
          f.path(), fmt::format("{} lacks one of the attributes element, min_da, max_da: fix the export", g));
    std::string element = h5::read_attr_string(o, "element");
    const double lo = h5::read_attr_double(o, "min_da"), hi = h5::read_attr_double(o, "max_da");
    check_bounds(lo, hi, f.path(), g);
    std::string compact;
    for (char c : element)
      if (!std::isspace(static_cast<unsigned char>(c))) compact += c;
    const auto comp = parse_formula(compact);
    std::string name = compact.empty() ? fmt::format("range_{}", k) : compact;
    if (name.find_first_of(":=") != std::string::npos) name = fmt::format("range_{}", k);
    const int type = b.intern_type(comp ? *comp : Composition{}, comp ? "" : name, "", 0, k);
    b.add_range(lo, hi, type, k);
    ++nranges;
  }
  if (nranges == 0) return std::nullopt;
  RangeTable t = b.finish(0);
  t.source = f.path();
  return t;
}

}  // namespace aptflow::io::detail
