#!/usr/bin/env bash
# Real-SLURM test of jobs/scaling.sbatch: a 2-task allocation generates a small
# specimen, classifies it at 1 and 2 ranks (the script h5diffs the runs) and
# writes the CSV table; the test checks the table. The binary runs from a build
# directory outside the source tree (a copy under the work directory), so the
# script must not derive the source tree from the binary's path. Stops the
# daemons it started (by PID). Exit 77 (ctest: skipped) without SLURM or root.
# Usage: test_scaling_job.sh SOURCE_DIR APTFLOW_EXE
set -euo pipefail
src=$1
exe=$2
source "$src/tests/slurm/local_slurm.sh"
slurm_test_setup scaling
slurm_start
mkdir -p "$work/elsewhere/build"
cp "$exe" "$work/elsewhere/build/aptflow"  # a build directory outside the source tree
cd "$src"
if ! sbatch --wait --ntasks=2 --output="$work/job.log" \
  --export=ALL,OUT="$work/out",SIZE="12 12 20",APTFLOW="$work/elsewhere/build/aptflow" \
  "$src/jobs/scaling.sbatch" >/dev/null; then
  echo "FAIL: the scaling job failed; log:"; cat "$work/job.log"; exit 1
fi
/usr/bin/python3 - "$work/out/scaling.csv" "$work/out/scaling.pos" <<'PY'
import csv, os, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [int(r["ranks"]) for r in rows] == [1, 2], rows
n = os.path.getsize(sys.argv[2]) // 16
for r in rows:
    assert int(r["ions"]) == n, (r, n)
    assert float(r["seconds"]) > 0 and int(r["windows"]) > 0, r
assert float(rows[0]["speedup"]) == 1.0 and float(rows[0]["efficiency"]) == 1.0, rows[0]
PY
echo "local SLURM: scaling.sbatch ran np 1 and 2 in one allocation from a build outside the source tree; identical results, CSV table checked"
