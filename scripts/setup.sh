#!/usr/bin/env bash
# Install what aptflow needs from Debian's apt (idempotent: packages already
# present are skipped, so a second run takes a second).
# Usage: bash scripts/setup.sh [demo|all]   (as root, or with sudo available)
#   demo: what building aptflow and running scripts/demo.sh need
#   all (default): also the tests, benchmarks and their references (GoogleTest,
#        Google Benchmark, scipy, PyTorch), SLURM, Chromium, clang-format
set -euo pipefail
PROFILE=${1:-all}
DEMO=(
  build-essential cmake ninja-build pkg-config git
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev
  libtrilinos-kokkos-dev
  libopenblas-dev
  libtomlplusplus-dev libcli11-dev libfmt-dev libspdlog-dev nlohmann-json3-dev libeigen3-dev
  python3 python3-numpy python3-h5py  # the demo's summary at the end
)
REST=(
  clang-format hdf5-tools zlib1g-dev
  clang libclang-rt-14-dev  # libFuzzer + ASan/UBSan runtimes of the reader fuzz tests (tests/fuzz)
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-scipy python3-torch
  slurmctld slurmd slurm-client munge
  chromium fonts-dejavu-core  # aptflow report: headless render test and figure font
)
case "$PROFILE" in
  demo) PACKAGES=("${DEMO[@]}") ;;
  all) PACKAGES=("${DEMO[@]}" "${REST[@]}") ;;
  *) echo "setup: unknown profile '$PROFILE': use demo or all" >&2; exit 2 ;;
esac
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages ($PROFILE) already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
