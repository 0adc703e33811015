#!/usr/bin/env bash
# Rebuild aptflow's default models (models/README.md) from the shipped configs:
#   bash models/rebuild.sh [BUILD_DIR] [NP]
#   MODELS="alli_l12_1dcnn alli_l12_pairs_1dcnn" bash models/rebuild.sh   (only those)
# For each model: generate its synthetic library with `aptflow synth library` (a shipped
# configs/synth config + overrides; the effective config is written to <name>.library.toml), then
# train it with `aptflow train` from the training config stored here (<name>.train.toml); the log
# goes to <name>.log.
# Deterministic: same configs and seeds -> same libraries; the weights agree up to floating-point
# summation order (BLAS, number of ranks).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${1:-$root/build}"
np="${2:-1}"
exe="$build/aptflow"
run() { if [ "$np" -gt 1 ]; then mpirun -np "$np" --oversubscribe "$@"; else "$@"; fi; }
export OPENBLAS_NUM_THREADS=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

dump_config() {  # library file -> its effective config (root attribute `config`)
  /usr/bin/python3 -c 'import h5py, sys; c = h5py.File(sys.argv[1], "r").attrs["config"]; print(c.decode() if isinstance(c, bytes) else c)' "$1"
}

model() {  # name synth_config [--set ...]
  local name="$1" synth_cfg="$2"
  shift 2
  case " ${MODELS:-$name} " in *" $name "*) ;; *) return 0 ;; esac
  local lib="$work/$name.lib.h5"
  run "$exe" synth library --config "$root/$synth_cfg" "$@" --out "$lib"
  run "$exe" train --config "$here/$name.train.toml" --library "$lib" --out "$here/$name.h5" | tee "$here/$name.log"
  { echo "# effective library config: aptflow synth library --config $synth_cfg $*"; dump_config "$lib"; } \
    > "$here/$name.library.toml"
}

# CoCrNi CSRO: published architecture on aptflow's CoCrNi library (5200 samples).
model cocrni_1dcnn configs/synth/cocrni_fcc_l12.toml
# Fe-Al B2 / D0_3: published architecture on aptflow's Fe-Al library (5000 samples).
model feal_1dcnn configs/synth/feal_bcc_b2_d03.toml
# Al-Li-Mg L1_2 (delta') for the demo specimen: Al-Al z-SDM, pole <002>, the allimg sigma / eta grid.
model alli_demo_1dcnn configs/synth/allimg_fcc_l12.toml \
  --set 'sdm.kinds=["z"]' --set 'classes.FCC.pole=[0,0,2]' --set 'classes.L1_2.pole=[0,0,2]'
# Al-Li-Mg L1_2 (delta') for configs/classify/alli_l12.toml: Al-Al z-SDM, pole <002>, blocks the size of
# a 2 nm cocrni window, Al-Li-Mg matrix, artefacts around the experiment's (docs/ground-truth.md).
model alli_l12_1dcnn configs/synth/alli_window_fcc_l12.toml
# The same blocks with four z-SDM channels (Al-Al, Li-Li, Al-Li, Li-Al): the Li sublattice's
# superlattice planes; the default model of configs/classify/alli_l12.toml (docs/ground-truth.md).
model alli_l12_pairs_1dcnn configs/synth/alli_window_fcc_l12.toml \
  --set 'sdm.pairs=["Al-Al","Li-Li","Al-Li","Li-Al"]'
ls -l "$here"/*.h5
