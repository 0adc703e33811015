#pragma once
// XDMF 3 sidecar for a classify result file, so ParaView / VisIt open the
// probability map and the sub-cell labels straight from the HDF5 file.
#include <string>

namespace aptflow::io {

// Reads result_h5 (serial) and writes xdmf_path (XDMF 3, Xdmf.dtd) describing:
//  - grid "windows": a 3DCoRectMesh with one node per window centre
//    (Dimensions nz ny nx; XDMF lists z, y, x), origin = centre of window 0 =
//    origin attr + edge / 2 per axis, spacing = stride; one node-centred
//    scalar Attribute "P(<class>)" per class, a HyperSlab of the 4-D dataset
//    /entry1/windows/probability (start 0 0 0 c, count nz ny nx 1);
//  - grid "subcells" when /entry1/subcells/label (int32 (nsz, nsy, nsx))
//    exists: node-centred "label" on the sub-cell centres, origin = window
//    grid origin + stride / 2 (sub-cell j spans [origin + j stride, origin +
//    (j + 1) stride), docs/segmentation.md), spacing = stride.
// The HDF5 file is referenced by its path relative to the XDMF file's folder,
// so the pair can be moved together. Number types follow the stored types.
// InputError when the result file lacks the probability map or its attrs;
// ResourceError when the XDMF file cannot be written.
void write_classify_xdmf(const std::string& result_h5, const std::string& xdmf_path);

// &, <, > and " escaped for XML text and attribute values (also used by the
// XDMF sidecar of aptflow pole, src/pipeline/pole_io.cpp).
std::string xml_escape(const std::string& s);

}  // namespace aptflow::io
