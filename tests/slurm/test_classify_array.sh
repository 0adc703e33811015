#!/usr/bin/env bash
# Real-SLURM test of jobs/classify_array.sbatch: starts munge + slurmctld + slurmd
# in a temporary directory, submits the array over two small synthetic specimens
# and one missing dataset (2 tasks each), waits, checks both results (ion count,
# and the same classification as a direct 1-rank run), that the missing dataset
# left its error in <index>_<stem>.err and no result, and stops the daemons it
# started (by PID). Exit 77 (ctest: skipped) without SLURM or root.
# Usage: test_classify_array.sh SOURCE_DIR APTFLOW_EXE
set -euo pipefail
src=$1
exe=$2
source "$src/tests/slurm/local_slurm.sh"
slurm_test_setup array

for i in 0 1; do
  "$exe" synth specimen --config "$src/configs/synth/demo_specimen.toml" --set name=d$i --set seed=$((i + 5)) \
    --set 'specimen.size=[8.0, 8.0, 10.0]' --set domains.delta_prime.count=1 --out "$work/data" >/dev/null
  "$exe" classify --config "$src/configs/classify/alli_l12.toml" --set input="$work/data/d$i.pos" \
    --set range="$work/data/d$i.rrng" --set output="$work/direct$i.h5" --set progress=false >/dev/null
done
{
  echo "# dataset range"
  echo "$work/data/d0.pos $work/data/d0.rrng"
  echo "$work/data/d1.pos $work/data/d1.rrng"
  echo "$work/data/missing.pos $work/data/d1.rrng"
} >"$work/list.txt"

slurm_start
cd "$src"
set +e
sbatch --wait --array=0-2 --ntasks=2 --output="$work/job_%a.log" \
  --export=ALL,LIST="$work/list.txt",OUT="$work/out",APTFLOW="$exe" "$src/jobs/classify_array.sbatch" >/dev/null
set -e
fail=0
for i in 0 1; do
  res="$work/out/${i}_d$i.h5"
  if [ ! -e "$res" ] || [ -e "$work/out/${i}_d$i.err" ]; then
    echo "FAIL: task $i: no result or an .err left; log:"; cat "$work/job_$i.log"; fail=1; continue
  fi
  n=$(($(stat -c %s "$work/data/d$i.pos") / 16))
  got=$(/usr/bin/python3 -c 'import sys, h5py; print(h5py.File(sys.argv[1], "r")["entry1/ions/class"].shape[0])' "$res")
  [ "$got" = "$n" ] || { echo "FAIL: task $i: $got ion labels for $n ions"; fail=1; }
  for g in /entry1/ions /entry1/domains /entry1/windows/probability; do
    h5diff -q "$work/direct$i.h5" "$res" "$g" "$g" || { echo "FAIL: task $i: $g differs from a direct run"; fail=1; }
  done
done
if [ -e "$work/out/2_missing.h5" ] || ! grep -q "missing.pos" "$work/out/2_missing.err" 2>/dev/null; then
  echo "FAIL: the missing dataset must leave 2_missing.err naming it and no result"; cat "$work/job_2.log"; fail=1
fi
[ $fail -eq 0 ] && echo "local SLURM: classify_array.sbatch ran 3 tasks of 2 ranks; 2 results equal direct runs, the missing dataset reported"
exit $fail
