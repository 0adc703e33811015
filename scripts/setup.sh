#!/usr/bin/env bash
# Install everything aptflow needs from Debian's apt (idempotent: packages
# already present are skipped, so a second run takes a second).
# Usage: bash scripts/setup.sh   (as root, or with sudo available)
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config git clang-format
  clang libclang-rt-14-dev  # libFuzzer + ASan/UBSan runtimes of the reader fuzz tests (tests/fuzz)
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libtrilinos-kokkos-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-dev zlib1g-dev
  libtomlplusplus-dev libcli11-dev libfmt-dev libspdlog-dev nlohmann-json3-dev libeigen3-dev
  python3 python3-numpy python3-scipy python3-h5py python3-torch
  slurmctld slurmd slurm-client munge
  chromium fonts-dejavu-core  # aptflow report: headless render test and figure font
)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
