// SHA-256 and the per-dataset result file of `aptflow archive`.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "aptflow/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"
#include "pipeline/archive_detail.hpp"

namespace aptflow::archive_detail {

namespace {

constexpr std::uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

}  // namespace

Sha256::Sha256()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

void Sha256::block(const std::uint8_t* p) {
  std::uint32_t w[64];
  for (int i = 0; i < 16; ++i)
    w[i] = (std::uint32_t{p[4 * i]} << 24) | (std::uint32_t{p[4 * i + 1]} << 16) |
           (std::uint32_t{p[4 * i + 2]} << 8) | std::uint32_t{p[4 * i + 3]};
  for (int i = 16; i < 64; ++i) {
    const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
  for (int i = 0; i < 64; ++i) {
    const std::uint32_t t1 =
        h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[i] + w[i];
    const std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
  }
  h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d, h_[4] += e, h_[5] += f, h_[6] += g, h_[7] += h;
}

void Sha256::update(const void* data, std::size_t bytes) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  total_ += bytes;
  if (fill_ > 0) {
    const std::size_t take = std::min(bytes, 64 - fill_);
    std::memcpy(buf_.data() + fill_, p, take);
    fill_ += take, p += take, bytes -= take;
    if (fill_ < 64) return;
    block(buf_.data());
    fill_ = 0;
  }
  for (; bytes >= 64; p += 64, bytes -= 64) block(p);
  std::memcpy(buf_.data(), p, bytes);
  fill_ = bytes;
}

std::array<std::uint8_t, 32> Sha256::digest() {
  const std::uint64_t bits = total_ * 8;
  const std::uint8_t one = 0x80, zero = 0;
  update(&one, 1);
  while (fill_ != 56) update(&zero, 1);
  std::uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
  update(len, 8);
  std::array<std::uint8_t, 32> out;
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<std::uint8_t>(h_[i] >> (24 - 8 * j));
  return out;
}

std::string Sha256::hex_digest() {
  const auto d = digest();
  std::string s;
  for (auto b : d) s += fmt::format("{:02x}", b);
  return s;
}

std::string sha256_hex(const std::string& data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex_digest();
}

std::string sha256_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path, "file does not exist: check the path");
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path, "is a directory, not a file: give the dataset file");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    throw InputError(path,
                     fmt::format("cannot open ({}): check the path and permissions", std::strerror(errno)));
  Sha256 h;
  std::vector<char> buf(std::size_t{1} << 20);
  std::size_t got = 0;
  while ((got = std::fread(buf.data(), 1, buf.size(), f)) > 0) h.update(buf.data(), got);
  const bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) throw InputError(path, "read error while hashing: check the file system");
  return h.hex_digest();
}

FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<std::int64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

std::string result_name(std::int64_t index, const std::string& dataset_path) {
  std::string stem = std::filesystem::path(dataset_path).stem().string();
  for (auto& c : stem)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  if (stem.empty()) stem = "dataset";
  return fmt::format("datasets/{:05d}_{}.h5", index, stem);
}

std::string temp_name(const std::string& file) {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::string h(host);
  for (auto& c : h)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) c = '_';
  return fmt::format("{}.{}.{}.tmp", file, h, static_cast<long long>(getpid()));
}

void write_record(const std::string& file, const DatasetRecord& r) {
  const std::string tmp = temp_name(file);
  {
    auto f = h5::File::create(tmp);
    auto root = h5::open_object(f, "/");
    h5::write_attr(root, "aptflow_version", std::string(APTFLOW_VERSION));
    h5::write_attr(root, "index", r.index);
    h5::write_attr(root, "path", r.path);
    h5::write_attr(root, "range", r.range);
    h5::write_attr(root, "status", r.status);
    h5::write_attr(root, "error", r.error);
    h5::write_attr(root, "sha256", r.sha256);
    h5::write_attr(root, "format", r.format);
    h5::write_attr(root, "ions", r.ions);
    h5::write_attr(root, "file_bytes", r.file_bytes);
    h5::write_attr(root, "hydrogen", r.hydrogen);
    h5::write_attr(root, "classify_result", r.classify_result);
    h5::write_attr(root, "classify_domains", r.classify_domains);
    h5::write_attr(root, "classify_labelled_ions", r.classify_labelled);
    h5::write_attr(root, "seconds", r.seconds);
    h5::write_attr(root, "config_hash", r.config_hash);
    h5::write_attr(root, "input_size", r.input_stamp.size);
    h5::write_attr(root, "input_mtime_ns", r.input_stamp.mtime_ns);
    h5::write_attr(root, "range_size", r.range_stamp.size);
    h5::write_attr(root, "range_mtime_ns", r.range_stamp.mtime_ns);
    h5::write_attr(root, "range_sha256", r.range_sha256);
    h5::write<std::int64_t>(f, "hydrogen_counts", r.hydrogen_counts);
    h5::write_strings(f, "composition/elements", r.elements);
    h5::write<double>(f, "composition/fraction", r.fraction);
    h5::write_strings(f, "species/names", r.species);
    h5::write<std::int64_t>(f, "species/counts", r.species_counts);
    h5::write<std::int64_t>(f, "spectrum", r.spectrum);
    // Written last: a file with this attribute holds everything above.
    h5::write_attr(root, "complete", std::int64_t{1});
    f.flush();
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) {
    std::error_code ignore;
    std::filesystem::remove(tmp, ignore);
    throw ResourceError(
        fmt::format("archive result '{}': cannot rename from '{}' ({}): check the output directory", file,
                    tmp, ec.message()));
  }
}

std::optional<DatasetRecord> read_record(const std::string& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return std::nullopt;
  try {
    auto f = h5::File::open(file);
    auto root = h5::open_object(f, "/");
    if (!h5::has_attr(root, "complete") || h5::read_attr_int(root, "complete") != 1) return std::nullopt;
    DatasetRecord r;
    r.index = h5::read_attr_int(root, "index");
    r.path = h5::read_attr_string(root, "path");
    r.range = h5::read_attr_string(root, "range");
    r.status = h5::read_attr_string(root, "status");
    r.error = h5::read_attr_string(root, "error");
    r.sha256 = h5::read_attr_string(root, "sha256");
    r.format = h5::read_attr_string(root, "format");
    r.ions = h5::read_attr_int(root, "ions");
    r.file_bytes = h5::read_attr_int(root, "file_bytes");
    r.hydrogen = h5::read_attr_double(root, "hydrogen");
    r.classify_result = h5::read_attr_string(root, "classify_result");
    r.classify_domains = h5::read_attr_int(root, "classify_domains");
    r.classify_labelled = h5::read_attr_int(root, "classify_labelled_ions");
    r.seconds = h5::read_attr_double(root, "seconds");
    r.config_hash = h5::read_attr_string(root, "config_hash");
    r.input_stamp = {h5::read_attr_int(root, "input_size"), h5::read_attr_int(root, "input_mtime_ns")};
    r.range_stamp = {h5::read_attr_int(root, "range_size"), h5::read_attr_int(root, "range_mtime_ns")};
    r.range_sha256 = h5::read_attr_string(root, "range_sha256");
    r.hydrogen_counts = h5::read<std::int64_t>(f, "hydrogen_counts");
    r.elements = h5::read_strings(f, "composition/elements");
    r.fraction = h5::read<double>(f, "composition/fraction");
    r.species = h5::read_strings(f, "species/names");
    r.species_counts = h5::read<std::int64_t>(f, "species/counts");
    r.spectrum = h5::read<std::int64_t>(f, "spectrum");
    if (r.elements.size() != r.fraction.size() || r.species.size() != r.species_counts.size())
      return std::nullopt;
    return r;
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace aptflow::archive_detail
