#!/usr/bin/env bash
# Kill aptflow archive (SIGKILL) at random moments many times, resume each
# time, and compare the final index with an uninterrupted run: every dataset
# and attribute must be identical except /datasets/seconds (timing) and the
# root attribute config (it names the output directory). A longer version of
# the test ArchiveCli.KillAtRandomPointsThenResumeGivesTheSameIndex.
#
#   benchmarks/archive_kill_loop.sh build/aptflow [KILLS=20] [NP=2] [DATASETS=60]
set -euo pipefail
exe=$(realpath "$1")
kills=${2:-20}
np=${3:-2}
datasets=${4:-60}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
work=$(mktemp -d /tmp/aptflow-kill-loop.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$exe" synth archive --out "$work/archive" --datasets "$datasets" >/dev/null
printf 'manifest = "%s"\noutput = "%s"\nprogress = false\n' "$work/archive/manifest.csv" "$work/base" >"$work/c.toml"
run() { mpirun -n "$np" --oversubscribe "$exe" archive --config "$work/c.toml" "$@"; }
t0=$(date +%s.%N)
run >/dev/null
full=$(echo "$(date +%s.%N) - $t0" | bc)
echo "uninterrupted run at np $np: $full s"
killed=0 finished=0
for i in $(seq "$kills"); do
  delay=$(/usr/bin/python3 -c "import random; random.seed($i); print(round(random.uniform(0.05, $full), 3))")
  set +e
  timeout -s KILL "$delay" mpirun -n "$np" --oversubscribe "$exe" archive --config "$work/c.toml" \
    --set output=\""$work/killed"\" --resume >/dev/null 2>&1
  rc=$?
  set -e
  # mpirun killed by SIGKILL leaves its ranks orphaned for a moment: wait for them.
  sleep 0.3
  if [ "$rc" -eq 137 ] || [ "$rc" -eq 124 ]; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
  done_files=$(find "$work/killed/datasets" -name '*.h5' 2>/dev/null | wc -l)
  echo "kill $i after $delay s: exit $rc, $done_files result files"
done
run --set output=\""$work/killed"\" --resume
/usr/bin/python3 - "$work/base/index.h5" "$work/killed/index.h5" <<'PY'
import sys, h5py, numpy as np
def contents(name):
    out = {}
    with h5py.File(name) as f:
        def visit(path, obj):
            for k, v in obj.attrs.items():
                out[path + "@" + k] = np.asarray(v).tobytes() if not isinstance(v, str) else v
            if isinstance(obj, h5py.Dataset):
                out[path] = obj[()].tobytes() if obj.dtype.kind != "O" else repr(obj[()].tolist())
        visit("/", f)
        f.visititems(lambda p, o: visit("/" + p, o))
    for skip in ("/datasets/seconds", "/@config"):
        out.pop(skip, None)
    return out
a, b = contents(sys.argv[1]), contents(sys.argv[2])
diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
print(f"compared {len(a)} datasets and attributes: {len(diff)} differ {diff[:5]}")
sys.exit(1 if diff else 0)
PY
echo "kill loop: $killed runs killed, $finished finished before the kill; the resumed index equals the uninterrupted one"
