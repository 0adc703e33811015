#!/usr/bin/env bash
# Real-SLURM test of jobs/archive.sbatch: starts a local SLURM (local_slurm.sh),
# submits the archive job on 2 tasks, sends SIGUSR1 to its steps while it runs
# (what `#SBATCH --signal=USR1@600` does before the time limit), and checks
# that aptflow stops with 75, the script requeues the job, the continuation
# resumes, and the final index equals an uninterrupted run's (except timing and
# the config text). Exit 77 (ctest: skipped) without SLURM or root.
# Usage: test_archive_requeue.sh SOURCE_DIR APTFLOW_EXE
set -euo pipefail
src=$1
exe=$(realpath "$2")
source "$src/tests/slurm/local_slurm.sh"
slurm_test_setup archive

"$exe" synth archive --out "$work/archive" --datasets 40 --min-ions 150000 --max-ions 300000 >/dev/null
printf 'manifest = "%s"\noutput = "%s"\nprogress = true\n' "$work/archive/manifest.csv" "$work/out" >"$work/c.toml"
"$exe" archive --config "$work/c.toml" --set output=\""$work/base"\" >/dev/null 2>&1

slurm_start
cd "$work"
job=$(sbatch --parsable --ntasks=2 --export=ALL,CONFIG="$work/c.toml",APTFLOW="$exe" "$src/jobs/archive.sbatch")
# Wait until the job step has written some results, then signal the steps.
for _ in $(seq 600); do
  n=$( (find "$work/out/datasets" -name '*.h5' 2>/dev/null || true) | wc -l)
  [ "$n" -ge 3 ] && break
  sleep 0.05
done
scancel --signal=USR1 "$job"
# Wait for the job (and its requeued continuation) to finish.
for _ in $(seq 1200); do
  state=$(scontrol show job "$job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
  [ "$state" = COMPLETED ] || [ "$state" = FAILED ] || [ "$state" = CANCELLED ] || [ "$state" = TIMEOUT ] && break
  # SLURM holds a requeued job back (BeginTime) for a while: start it now, but
  # only once the node has cleaned up its previous run (slurm_release_requeued).
  [ "$state" = PENDING ] && { slurm_release_requeued "$job" || true; }
  sleep 0.25
done
log=$(ls "$work"/aptflow-archive-"$job".log)
fail=0
grep -q "interrupted after" "$log" || { echo "FAIL: the first run was not interrupted (signal too late?)"; fail=1; }
grep -q "requeueing job $job" "$log" || { echo "FAIL: the job was not requeued"; fail=1; }
grep -q "continuation 1" "$log" || { echo "FAIL: no continuation ran"; fail=1; }
[ "$state" = COMPLETED ] || { echo "FAIL: job state $state"; fail=1; }
if [ $fail -eq 0 ]; then
  /usr/bin/python3 "$src/tests/python/h5_same.py" "$work/base/index.h5" "$work/out/index.h5" \
    --skip /datasets/seconds /@config ||
    { echo "FAIL: the index after the requeue differs from an uninterrupted run"; fail=1; }
fi
if [ $fail -ne 0 ]; then
  echo "--- job log"; cat "$log"
  scontrol show job "$job"; slurm_job_logs "$job"; exit 1
fi
echo "local SLURM: archive job interrupted by SIGUSR1 (exit 75), requeued, resumed; index equals an uninterrupted run"
