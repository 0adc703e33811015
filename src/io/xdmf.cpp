// XDMF 3 sidecar of a classify result (include/aptflow/io/xdmf.hpp).
#include "aptflow/io/xdmf.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"

namespace aptflow::io {

namespace {

namespace fs = std::filesystem;

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&')
      o += "&amp;";
    else if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

// XDMF NumberType and Precision of a stored dataset.
std::string number_type(const h5::File& f, const std::string& path) {
  auto d = h5::open_object(f, path);
  h5::Handle t(H5Dget_type(d));
  const auto cls = H5Tget_class(t);
  const auto size = H5Tget_size(t);
  std::string type;
  if (cls == H5T_FLOAT)
    type = "Float";
  else if (cls == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(t) != H5T_SGN_NONE;
    type = size == 1 ? (is_signed ? "Char" : "UChar") : (is_signed ? "Int" : "UInt");
  } else {
    throw InputError(f.path(), fmt::format("dataset '{}' is not numeric: cannot describe it in XDMF", path));
  }
  return fmt::format("NumberType=\"{}\" Precision=\"{}\"", type, size);
}

std::string dims_text(const std::vector<hsize_t>& d) {
  std::string s;
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? " " : "") + std::to_string(d[i]);
  return s;
}

std::string g17(double v) { return fmt::format("{:.17g}", v); }

std::string geometry(double oz, double oy, double ox, double s) {
  return fmt::format(
      "      <Geometry GeometryType=\"ORIGIN_DXDYDZ\">\n"
      "        <DataItem Name=\"Origin\" Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" "
      "Format=\"XML\">{} {} {}</DataItem>\n"
      "        <DataItem Name=\"Spacing\" Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" "
      "Format=\"XML\">{} {} {}</DataItem>\n"
      "      </Geometry>\n",
      g17(oz), g17(oy), g17(ox), g17(s), g17(s), g17(s));
}

}  // namespace

std::string xml_escape(const std::string& s) { return esc(s); }

void write_classify_xdmf(const std::string& result_h5, const std::string& xdmf_path) {
  auto f = h5::File::open(result_h5);
  const std::string prob = "/entry1/windows/probability";
  const auto d = h5::dims(f, prob);
  if (d.size() != 4)
    throw InputError(result_h5,
                     fmt::format("'{}' must be (nz, ny, nx, classes), has {} dimensions: re-run aptflow "
                                 "classify",
                                 prob, d.size()));
  auto p = h5::open_object(f, prob);
  for (const char* a : {"origin", "edge", "stride"})
    if (!h5::has_attr(p, a))
      throw InputError(result_h5, fmt::format("'{}' lacks attribute '{}': re-run aptflow classify", prob, a));
  const auto origin = h5::read_attr_doubles(p, "origin");
  if (origin.size() != 3)
    throw InputError(result_h5, fmt::format("'{}' attribute origin must hold 3 values (x, y, z nm)", prob));
  const double edge = h5::read_attr_double(p, "edge"), stride = h5::read_attr_double(p, "stride");
  std::vector<std::string> names;
  if (h5::has_attr(p, "class_names")) names = h5::read_attr_strings(p, "class_names");
  for (std::size_t c = names.size(); c < d[3]; ++c) names.push_back(fmt::format("class{}", c));

  // The HDF5 file relative to the XDMF file's folder.
  const fs::path xdir = fs::absolute(fs::path(xdmf_path)).parent_path();
  const std::string h5ref = fs::absolute(fs::path(result_h5)).lexically_relative(xdir).generic_string();

  std::string o;
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n";
  o += "<Xdmf Version=\"3.0\" xmlns:xi=\"http://www.w3.org/2001/XInclude\">\n  <Domain>\n";
  // Windows: nodes at the window centres.
  const std::vector<hsize_t> grid{d[0], d[1], d[2]};
  o += "    <Grid Name=\"windows\" GridType=\"Uniform\">\n";
  o += fmt::format("      <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"{}\"/>\n", dims_text(grid));
  o += geometry(origin[2] + 0.5 * edge, origin[1] + 0.5 * edge, origin[0] + 0.5 * edge, stride);
  const std::string ptype = number_type(f, prob);
  for (hsize_t c = 0; c < d[3]; ++c) {
    o += fmt::format("      <Attribute Name=\"P({})\" AttributeType=\"Scalar\" Center=\"Node\">\n",
                     esc(names[c]));
    o += fmt::format("        <DataItem ItemType=\"HyperSlab\" Dimensions=\"{} 1\" Type=\"HyperSlab\">\n",
                     dims_text(grid));
    o += fmt::format(
        "          <DataItem Dimensions=\"3 4\" NumberType=\"UInt\" Precision=\"8\" Format=\"XML\">0 0 0 {} "
        "1 1 1 "
        "1 {} 1</DataItem>\n",
        c, dims_text(grid));
    o += fmt::format("          <DataItem Dimensions=\"{}\" {} Format=\"HDF\">{}:{}</DataItem>\n",
                     dims_text(d), ptype, esc(h5ref), prob);
    o += "        </DataItem>\n      </Attribute>\n";
  }
  o += "    </Grid>\n";
  // Sub-cells: nodes at the sub-cell centres.
  const std::string label = "/entry1/subcells/label";
  if (h5::exists(f, label)) {
    const auto s = h5::dims(f, label);
    if (s.size() != 3)
      throw InputError(result_h5,
                       fmt::format("'{}' must be (nsz, nsy, nsx): re-run aptflow classify", label));
    o += "    <Grid Name=\"subcells\" GridType=\"Uniform\">\n";
    o += fmt::format("      <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"{}\"/>\n", dims_text(s));
    o += geometry(origin[2] + 0.5 * stride, origin[1] + 0.5 * stride, origin[0] + 0.5 * stride, stride);
    o += "      <Attribute Name=\"label\" AttributeType=\"Scalar\" Center=\"Node\">\n";
    o += fmt::format("        <DataItem Dimensions=\"{}\" {} Format=\"HDF\">{}:{}</DataItem>\n", dims_text(s),
                     number_type(f, label), esc(h5ref), label);
    o += "      </Attribute>\n    </Grid>\n";
  }
  o += "  </Domain>\n</Xdmf>\n";

  std::ofstream out(xdmf_path, std::ios::binary);
  out.write(o.data(), static_cast<std::streamsize>(o.size()));
  out.close();
  if (!out)
    throw ResourceError(
        fmt::format("cannot write XDMF file '{}': check the folder exists and is writable", xdmf_path));
}

}  // namespace aptflow::io
