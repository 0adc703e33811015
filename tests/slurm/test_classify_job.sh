#!/usr/bin/env bash
# Real-SLURM test of jobs/classify_one.sbatch: starts munge + slurmctld + slurmd
# in a temporary directory, submits the single-dataset classify job with 2 tasks
# on a small synthetic specimen, waits, checks the HDF5 result (shape, labels,
# and the same classification as a direct 1-rank run), and stops the daemons it
# started (by PID). Exit 77 (ctest: skipped) without SLURM or root.
# Usage: test_classify_job.sh SOURCE_DIR APTFLOW_EXE
set -euo pipefail
src=$1
exe=$2
source "$src/tests/slurm/local_slurm.sh"
slurm_test_setup classify

"$exe" synth specimen --config "$src/configs/synth/demo_specimen.toml" --set name=small \
  --set 'specimen.size=[8.0, 8.0, 12.0]' --set domains.delta_prime.count=2 --out "$work/data" >/dev/null
# The reference: the same classification run directly on one rank.
"$exe" classify --config "$src/configs/classify/alli_l12.toml" --set input="$work/data/small.pos" \
  --set range="$work/data/small.rrng" --set output="$work/direct.h5" --set progress=false >/dev/null

slurm_start
cd "$src"
set +e
sbatch --wait --ntasks=2 --output="$work/job.log" \
  --export=ALL,INPUT="$work/data/small.pos",RANGE="$work/data/small.rrng",OUTPUT="$work/slurm.h5",APTFLOW="$exe" \
  "$src/jobs/classify_one.sbatch" >/dev/null
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "FAIL: sbatch --wait exited $rc; job log:"; cat "$work/job.log"; exit 1
fi
/usr/bin/python3 - "$work/slurm.h5" "$work/data/small.pos" <<'PY'
import os, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
n = os.path.getsize(sys.argv[2]) // 16
cls = f["entry1/ions/class"][:]
dom = f["entry1/ions/domain_id"][:]
assert cls.shape == (n,) and dom.shape == (n,), (cls.shape, dom.shape, n)
assert set(np.unique(cls)) <= {-1, 0, 1}, np.unique(cls)
p = f["entry1/windows/probability"]
assert p.ndim == 4 and p.shape[3] == 2, p.shape
ranks = f["entry1/profiling"].attrs["ranks"]
assert int(ranks) == 2, f"the job ran on {ranks} ranks, expected 2"
PY
for g in /entry1/ions /entry1/domains /entry1/windows/probability; do
  h5diff -q "$work/direct.h5" "$work/slurm.h5" "$g" "$g" || { echo "FAIL: $g differs from the 1-rank run"; exit 1; }
done

# Time limit pattern: SIGUSR1 to the job's tasks mid-windows (what --signal=USR1@180
# does before the limit) -> aptflow checkpoints and exits 75 -> the script requeues
# the job -> the requeued run resumes -> the result equals the uninterrupted one.
# APTFLOW_TEST_CHUNK_SLEEP_MS slows the window rounds so the signal lands mid-run.
jobid=$(sbatch --parsable --ntasks=2 --output="$work/job2.log" \
  --export=ALL,INPUT="$work/data/small.pos",RANGE="$work/data/small.rrng",OUTPUT="$work/resumed.h5",APTFLOW="$exe",EXTRA="--set windows.chunk=256",APTFLOW_TEST_CHUNK_SLEEP_MS=300 \
  "$src/jobs/classify_one.sbatch")
signalled=0
deadline=$((SECONDS + 200))
while [ $SECONDS -lt $deadline ]; do
  state=$(squeue -h -j "$jobid" -o %T 2>/dev/null || true)
  [ -n "${APTFLOW_SLURM_DEBUG:-}" ] && echo "job $jobid: ${state:-gone}"
  if [ $signalled -eq 0 ] && [ "$state" = RUNNING ] && grep -q "windows" "$work/job2.log" 2>/dev/null; then
    sleep 1
    scancel --signal=USR1 "$jobid"
    signalled=1
  fi
  if [ $signalled -eq 1 ] && [[ "$state" == PENDING || "$state" == REQUEUE* ]]; then
    # SLURM holds a requeued job for about 2 minutes (BeginTime); release it now
    # (once the node has cleaned up the previous run: slurm_release_requeued).
    slurm_release_requeued "$jobid" || true
  fi
  [ -e "$work/resumed.h5" ] && [ -z "$state" ] && break
  sleep 0.2
done
if [ ! -e "$work/resumed.h5" ]; then
  echo "FAIL: the signalled job did not finish after its requeue; job log:"; cat "$work/job2.log"
  scontrol show job "$jobid"; slurm_job_logs "$jobid"; exit 1
fi
grep -q "checkpoint written before the time limit: requeueing" "$work/job2.log" ||
  { echo "FAIL: the job was not checkpointed and requeued; job log:"; cat "$work/job2.log"; exit 1; }
grep -q "resuming (restart 1)" "$work/job2.log" ||
  { echo "FAIL: the requeued job did not resume; job log:"; cat "$work/job2.log"; exit 1; }
# windows.chunk changes the network batches (docs/classify.md): compare with a direct run at that chunk.
"$exe" classify --config "$src/configs/classify/alli_l12.toml" --set input="$work/data/small.pos" \
  --set range="$work/data/small.rrng" --set output="$work/direct256.h5" --set progress=false \
  --set windows.chunk=256 >/dev/null
for g in /entry1/ions /entry1/domains /entry1/windows/probability /entry1/subcells; do
  h5diff -q "$work/direct256.h5" "$work/resumed.h5" "$g" "$g" ||
    { echo "FAIL: $g of the checkpointed + resumed job differs from the uninterrupted run"; exit 1; }
done
echo "local SLURM: classify_one.sbatch ran on 2 tasks; result checked and equal to a direct 1-rank run;"
echo "  SIGUSR1 mid-run -> checkpoint, exit 75, requeue, resume -> the uninterrupted result"
