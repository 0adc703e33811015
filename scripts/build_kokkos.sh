#!/usr/bin/env bash
# Build and install Kokkos 4.6.01 from the vendored release tarball for one
# backend, outside the source tree, with only what aptflow needs (core,
# containers, algorithms; no tests, examples or benchmarks).
#
#   bash scripts/build_kokkos.sh BACKEND PREFIX
#     BACKEND  openmp            Serial + OpenMP (host)
#              cuda-hopper90     Serial + CUDA, Kokkos_ARCH_HOPPER90 (H100/H200)
#              cuda-ampere80     Serial + CUDA, Kokkos_ARCH_AMPERE80 (A100)
#     PREFIX   install prefix (the build tree is PREFIX.build, removed after install)
#
# The tarball is ${APTFLOW_VENDOR_DIR:-<source>/../shared/vendor}/kokkos-4.6.01.tar.gz
# (its SHA-256 is checked against the .sha256 file beside it). Without it the
# script prints why and exits 77 (callers skip). CUDA needs nvcc
# (/usr/local/cuda/bin or CUDA_HOME); without it: exit 77 as well.
# Consumers of a CUDA install configure with
#   -DCMAKE_CXX_COMPILER=PREFIX/bin/nvcc_wrapper -DCMAKE_CXX_FLAGS=-arch=sm_90 (sm_80 for ampere80).
# An install whose stamp matches the tarball and options is reused (a second
# run takes a second). ccache is used when it is on PATH.
# Jobs: ${APTFLOW_JOBS:-$(nproc)}.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -ne 2 ]; then
  echo "usage: bash scripts/build_kokkos.sh openmp|cuda-hopper90|cuda-ampere80 PREFIX" >&2
  exit 2
fi
backend="$1"
prefix="$(mkdir -p "$2" && cd "$2" && pwd)"
vendor="${APTFLOW_VENDOR_DIR:-$here/../shared/vendor}"
tarball="$vendor/kokkos-4.6.01.tar.gz"
jobs="${APTFLOW_JOBS:-$(nproc)}"

if [ ! -f "$tarball" ]; then
  echo "build_kokkos: skipped: $tarball is absent (set APTFLOW_VENDOR_DIR or place ../shared/vendor beside the clone)"
  exit 77
fi
if [ -f "$tarball.sha256" ]; then
  want="$(awk '{print $1}' "$tarball.sha256")"
  got="$(sha256sum "$tarball" | awk '{print $1}')"
  if [ "$want" != "$got" ]; then
    echo "build_kokkos: $tarball: SHA-256 $got differs from $tarball.sha256 ($want): fetch the tarball again" >&2
    exit 2
  fi
fi

opts=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=20 -DCMAKE_INSTALL_PREFIX="$prefix"
      -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON
      -DKokkos_ENABLE_TESTS=OFF -DKokkos_ENABLE_EXAMPLES=OFF -DKokkos_ENABLE_BENCHMARKS=OFF
      -DKokkos_ENABLE_DEPRECATION_WARNINGS=OFF -DKokkos_ENABLE_SERIAL=ON)
src_dir=""  # set below, after extraction (nvcc_wrapper lives in the source tree)
case "$backend" in
  openmp)
    opts+=(-DKokkos_ENABLE_OPENMP=ON) ;;
  cuda-hopper90 | cuda-ampere80)
    nvcc="$(command -v nvcc || true)"
    for d in "${CUDA_HOME:-}" /usr/local/cuda; do
      if [ -z "$nvcc" ] && [ -n "$d" ] && [ -x "$d/bin/nvcc" ]; then nvcc="$d/bin/nvcc"; fi
    done
    if [ -z "$nvcc" ]; then
      echo "build_kokkos: skipped: no nvcc (install the CUDA toolkit or set CUDA_HOME)"
      exit 77
    fi
    export PATH="$(dirname "$nvcc"):$PATH"
    arch="${backend#cuda-}"
    sm="sm_${arch//[!0-9]/}"
    # nvcc_wrapper's built-in default (sm_70) is gone from CUDA 13: name the
    # architecture for CMake's compiler checks too (the same flag Kokkos adds).
    opts+=(-DKokkos_ENABLE_CUDA=ON "-DKokkos_ARCH_${arch^^}=ON" -DKokkos_ENABLE_CUDA_LAMBDA=ON
           "-DCMAKE_CXX_FLAGS=-arch=$sm") ;;
  *)
    echo "build_kokkos: unknown backend '$backend': use openmp, cuda-hopper90 or cuda-ampere80" >&2
    exit 2 ;;
esac

stamp="$prefix/.aptflow-kokkos-stamp"
key="$(sha256sum "$tarball" | awk '{print $1}') $backend ${opts[*]}"
if [[ "$backend" == cuda-* ]]; then key="$key $(sha256sum "$here/scripts/kokkos-4.6.01-cuda13.patch" | awk '{print $1}')"; fi
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] &&
   ls "$prefix"/lib*/cmake/Kokkos/KokkosConfig.cmake >/dev/null 2>&1; then
  echo "build_kokkos: $backend already installed in $prefix"
  exit 0
fi

build="$prefix.build"
rm -rf "$build"
mkdir -p "$build"
tar -xzf "$tarball" -C "$build"
src_dir="$build/kokkos-4.6.01"
if [[ "$backend" == cuda-* ]]; then
  # Kokkos 4.6.01 predates CUDA 13, which changed three runtime signatures
  # (cudaGraphAddDependencies, cudaMemAdvise, cudaMemPrefetchAsync); the patch
  # beside this script selects the new ones under CUDART_VERSION >= 13000 (as
  # Kokkos 4.7 does) and leaves older toolkits untouched.
  patch -d "$src_dir" -p1 -s <"$here/scripts/kokkos-4.6.01-cuda13.patch"
fi
gen=()
if command -v ninja >/dev/null; then gen=(-G Ninja); fi
if command -v ccache >/dev/null; then opts+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
if [[ "$backend" == cuda-* ]]; then
  opts+=(-DCMAKE_CXX_COMPILER="$src_dir/bin/nvcc_wrapper")
fi
start=$(date +%s)
echo "build_kokkos: configuring Kokkos 4.6.01 ($backend) -> $prefix"
cmake -S "$src_dir" -B "$build/b" "${gen[@]}" "${opts[@]}" >"$build/configure.log" 2>&1 ||
  { tail -40 "$build/configure.log"; echo "build_kokkos: configure failed (log above)" >&2; exit 1; }
cmake --build "$build/b" -j"$jobs" >"$build/build.log" 2>&1 ||
  { tail -60 "$build/build.log"; echo "build_kokkos: build failed (log above)" >&2; exit 1; }
cmake --install "$build/b" >"$build/install.log" 2>&1 ||
  { tail -20 "$build/install.log"; echo "build_kokkos: install failed (log above)" >&2; exit 1; }
echo "$key" >"$stamp"
rm -rf "$build"
echo "build_kokkos: $backend installed in $prefix ($(( $(date +%s) - start )) s)"
