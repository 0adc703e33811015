#!/usr/bin/env bash
# Real-SLURM test of jobs/inspect_many.sbatch: starts munge + slurmctld + slurmd
# in a temporary directory, submits the job array over three small synthetic
# datasets and one corrupt file, waits, checks every result, and stops the
# daemons it started (by PID). Exit 77 (ctest: skipped) without SLURM or root.
# Usage: test_inspect_array.sh SOURCE_DIR APTFLOW_EXE
set -euo pipefail
src=$1
exe=$2
source "$src/tests/slurm/local_slurm.sh"
slurm_test_setup test

for i in 0 1 2; do
  "$exe" synth specimen --config "$src/configs/synth/demo_specimen.toml" --set name=ds$i --set seed=$((i + 11)) \
    --set 'specimen.size=[6.0, 6.0, 8.0]' --set domains.delta_prime.count=1 --out "$work/data" >/dev/null
done
head -c 1000 "$work/data/ds0.pos" >"$work/data/corrupt.pos"  # 1000 bytes: not a whole number of records
{
  echo "# dataset range"
  for i in 0 1 2; do echo "$work/data/ds$i.pos $work/data/ds$i.rrng"; done
  echo "$work/data/corrupt.pos"
} >"$work/list.txt"

slurm_start
cd "$work"
set +e
APTFLOW=$exe sbatch --wait --array=0-3 --export=ALL,LIST="$work/list.txt",OUT="$work/out",APTFLOW="$exe" \
  "$src/jobs/inspect_many.sbatch" >/dev/null
set -e
fail=0
for i in 0 1 2; do
  f="$work/out/$i.json"
  if ! /usr/bin/python3 - "$f" "$work/data/ds$i.pos" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
n = os.path.getsize(sys.argv[2]) // 16
assert r["format"] == "pos", r["format"]
assert r["ions"] == n, (r["ions"], n)
assert sum(t["count"] for t in r["ion_types"]) + r["unranged"] == n
assert abs(sum(r["composition"].values()) - 1) < 1e-9
PY
  then echo "FAIL: result $i ($f)"; fail=1; fi
done
if [ -e "$work/out/3.json" ] || ! grep -q "not a multiple of 16" "$work/out/3.err"; then
  echo "FAIL: the corrupt dataset must leave 3.err with the reason and no 3.json"; fail=1
fi
[ $fail -eq 0 ] && echo "local SLURM: job array of 4 tasks ran; 3 results checked, the corrupt one reported"
exit $fail
