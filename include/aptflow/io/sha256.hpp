#pragma once
// SHA-256 (FIPS 180-4) of byte strings and files, for provenance: the
// classify output records the hash of its input, range and model files, and
// a checkpoint is only resumed against the same files.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace aptflow::io {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t bytes);
  // The 32-byte digest; the object must not be updated afterwards.
  std::array<std::uint8_t, 32> finish();
  // finish() as 64 lower-case hex digits (as sha256sum prints).
  std::string hex();

 private:
  void block(const std::uint8_t* p);
  std::uint32_t h_[8];
  std::uint8_t buf_[64];
  std::size_t used_ = 0;
  std::uint64_t total_ = 0;
};

// Hex digest of a string.
std::string sha256_hex(const std::string& bytes);
// Hex digest of a file's bytes (InputError naming the file when it cannot be read).
std::string sha256_file(const std::string& path);

}  // namespace aptflow::io
