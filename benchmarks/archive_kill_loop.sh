#!/usr/bin/env bash
# Kill aptflow archive (SIGKILL) at random moments many times, resume each
# time, and compare the final index with an uninterrupted run: every dataset
# and attribute must be identical except /datasets/seconds (timing) and the
# root attribute config (it names the output directory). A longer version of
# the test ArchiveCli.KillAtRandomPointsThenResumeGivesTheSameIndex.
#
#   [SEED=s] benchmarks/archive_kill_loop.sh build/aptflow [KILLS=20] [NP=2] [DATASETS=40] [MIN_IONS=200000] [MAX_IONS=400000]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
exe=$(realpath "$1")
kills=${2:-20}
np=${3:-2}
datasets=${4:-40}
min_ions=${5:-200000}
max_ions=${6:-400000}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
work=$(mktemp -d /tmp/aptflow-kill-loop.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$exe" synth archive --out "$work/archive" --datasets "$datasets" --min-ions "$min_ions" --max-ions "$max_ions" >/dev/null
printf 'manifest = "%s"\noutput = "%s"\nprogress = false\n' "$work/archive/manifest.csv" "$work/base" >"$work/c.toml"
run() { mpirun -n "$np" --oversubscribe "$exe" archive --config "$work/c.toml" "$@"; }
t0=$(date +%s.%N)
run >/dev/null
full=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
echo "uninterrupted run at np $np: $full s"
# Kill after a random fraction of the uninterrupted run time, resume, repeat
# until a run completes (or KILLS kills): the archive advances through kills.
killed=0
for i in $(seq "$kills"); do
  delay=$(/usr/bin/python3 -c "import random; random.seed($i + 1000 * ${SEED:-0}); print(round(random.uniform(0.2, 0.6 * $full), 3))")
  set +e
  timeout -s KILL "$delay" mpirun -n "$np" --oversubscribe "$exe" archive --config "$work/c.toml" \
    --set output=\""$work/killed"\" --resume >/dev/null 2>&1
  rc=$?
  set -e
  # mpirun killed by SIGKILL leaves its ranks orphaned for a moment: wait for them.
  sleep 0.3
  done_files=$( (find "$work/killed/datasets" -name "*.h5" 2>/dev/null || true) | wc -l)
  echo "run $i, killed after $delay s: exit $rc, $done_files result files"
  [ "$rc" -eq 0 ] && break
  killed=$((killed + 1))
done
run --set output=\""$work/killed"\" --resume
/usr/bin/python3 "$src/tests/python/h5_same.py" "$work/base/index.h5" "$work/killed/index.h5" \
  --skip /datasets/seconds /@config
echo "kill loop: $killed runs killed (SIGKILL) before the archive was complete; the resumed index equals the uninterrupted one"
