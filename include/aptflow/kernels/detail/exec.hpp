#pragma once
// Execution-space traits and accumulation helpers shared by the kernels.
//
// The helpers are functions, not branches inside lambdas: nvcc rejects an
// extended __host__ __device__ lambda that first-captures a variable inside
// an `if constexpr` ("cannot first-capture variable in constexpr-if
// context"), so kernels call add_to<Exec>(target, v) and keep the
// compile-time choice out of the lambda body.
#include <Kokkos_Core.hpp>
#include <string>
#include <type_traits>

namespace aptflow::detail {

// Kokkos::Profiling::ScopedRegion (Kokkos 4) for Kokkos 3.4 too: a named
// region around a stage, visible to Kokkos tools.
class ScopedRegion {
 public:
  explicit ScopedRegion(const std::string& name) { Kokkos::Profiling::pushRegion(name); }
  ~ScopedRegion() { Kokkos::Profiling::popRegion(); }
  ScopedRegion(const ScopedRegion&) = delete;
  ScopedRegion& operator=(const ScopedRegion&) = delete;
};

// Kokkos::Serial: one thread, histograms and counters are updated with plain adds.
template <class Exec>
inline constexpr bool kSerialExec =
#ifdef KOKKOS_ENABLE_SERIAL
    std::is_same_v<typename Exec::execution_space, Kokkos::Serial>;
#else
    false;
#endif

// Host execution spaces (Serial, OpenMP, Threads): kernels may take the
// CPU-tuned paths (per-thread stacks of a few KB, vectorised binning).
template <class Exec>
inline constexpr bool kHostExec = std::is_same_v<typename Exec::memory_space, Kokkos::HostSpace>&&
    Kokkos::SpaceAccessibility<typename Exec::execution_space, Kokkos::HostSpace>::accessible;

// target += value: plain on Serial, atomic elsewhere.
template <class Exec, class T>
KOKKOS_INLINE_FUNCTION void add_to(T& target, const T value) {
  if constexpr (kSerialExec<Exec>)
    target += value;
  else
    Kokkos::atomic_add(&target, value);
}

// old = target; target += value; return old: plain on Serial, atomic elsewhere.
template <class Exec, class T>
KOKKOS_INLINE_FUNCTION T fetch_add(T& target, const T value) {
  if constexpr (kSerialExec<Exec>) {
    const T old = target;
    target += value;
    return old;
  } else {
    return Kokkos::atomic_fetch_add(&target, value);
  }
}

// In-place heap sort of a[0, n) (ascending): no recursion and no extra
// memory, O(n log n) even for a cell that holds many clamped ions, so it
// runs inside a device kernel.
template <class T>
KOKKOS_INLINE_FUNCTION void heap_sort(T* a, const std::int64_t n) {
  auto sift = [a](std::int64_t root, const std::int64_t end) {
    for (;;) {
      std::int64_t child = 2 * root + 1;
      if (child >= end) return;
      if (child + 1 < end && a[child] < a[child + 1]) ++child;
      if (!(a[root] < a[child])) return;
      const T t = a[root];
      a[root] = a[child];
      a[child] = t;
      root = child;
    }
  };
  for (std::int64_t s = n / 2; s-- > 0;) sift(s, n);
  for (std::int64_t end = n; end-- > 1;) {
    const T t = a[0];
    a[0] = a[end];
    a[end] = t;
    sift(0, end);
  }
}

}  // namespace aptflow::detail
