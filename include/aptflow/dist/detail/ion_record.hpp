#pragma once
// The 32-byte wire record of one ion, as the z-slab decomposition and the halo
// exchange send it between ranks: position, m/q, species and the global input
// index (so that per-ion results can return to input order).
#include <cstdint>

#include "aptflow/core/ion_cloud.hpp"

namespace aptflow::dist::detail {

#pragma pack(push, 1)
struct IonRecord {
  float x, y, z, mq;
  IonIndex index;  // global input index
  Species species;
  std::uint8_t pad[6];
};
#pragma pack(pop)
static_assert(sizeof(IonRecord) == 32, "the wire record of one ion is 32 bytes");

// Ion i of cloud, with its global input index (padding zeroed: the bytes sent
// are deterministic).
inline IonRecord ion_record(const HostIonCloud& cloud, IonIndex i, IonIndex index) {
  IonRecord r{};
  r.x = cloud.x(i);
  r.y = cloud.y(i);
  r.z = cloud.z(i);
  r.mq = cloud.mq(i);
  r.index = index;
  r.species = cloud.species(i);
  return r;
}

// Store r as ion k of cloud (the index is the caller's to keep).
inline void store_ion(const HostIonCloud& cloud, IonIndex k, const IonRecord& r) {
  cloud.x(k) = r.x;
  cloud.y(k) = r.y;
  cloud.z(k) = r.z;
  cloud.mq(k) = r.mq;
  cloud.species(k) = r.species;
}

}  // namespace aptflow::dist::detail
