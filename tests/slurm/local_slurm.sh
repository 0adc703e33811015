#!/usr/bin/env bash
# A real single-node SLURM (munge + slurmctld + slurmd on localhost) in a
# temporary directory, for tests of the batch scripts in jobs/.
#
#   source tests/slurm/local_slurm.sh
#   slurm_start            # exports SLURM_CONF, waits until the node is idle
#   sbatch --wait ...      # use it
#   slurm_stop             # stops exactly the daemons it started (by PID)
#
# Needs the Debian packages slurmctld slurmd slurm-client munge (scripts/setup.sh
# installs them) and root (the daemons run as root here).
set -u

# For the tests: exit 77 (ctest: skipped) with a message when SLURM or munge is
# not installed or when not root (the daemons run as root here).
slurm_require() {
  local tool
  for tool in slurmctld slurmd munged sbatch; do
    if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
      echo "SKIP: $tool is not installed (scripts/setup.sh installs SLURM)"
      exit 77
    fi
  done
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: the local SLURM test runs its daemons as root"; exit 77; }
}

# Common start of a test script: the MPI-as-root and one-thread environment,
# skip (exit 77) without SLURM or root, a work directory in $work, and an EXIT
# trap that stops the daemons and removes it.   slurm_test_setup NAME
slurm_test_setup() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
  slurm_require
  work=$(mktemp -d "/tmp/aptflow-slurm-$1.XXXXXX")
  trap 'slurm_stop; rm -rf "$work"' EXIT
}

slurm_free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

slurm_start() {
  SLURM_TEST_DIR=$(mktemp -d /tmp/aptflow-slurm.XXXXXX)
  chmod 700 "$SLURM_TEST_DIR"
  local d=$SLURM_TEST_DIR
  mkdir -p "$d/state" "$d/spool" "$d/munge"
  chmod 700 "$d/munge"
  # munge: a root-owned copy of the key (or a fresh one), its own socket.
  if [ -r /etc/munge/munge.key ]; then
    cp /etc/munge/munge.key "$d/munge/munge.key"
  else
    dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  fi
  chown root:root "$d/munge/munge.key"
  chmod 400 "$d/munge/munge.key"
  /usr/sbin/munged --key-file="$d/munge/munge.key" --socket="$d/munge/munge.sock" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" --seed-file="$d/munge/seed" \
    --force || { echo "slurm_start: munged failed: $(cat "$d/munge/munged.log" 2>/dev/null)" >&2; return 1; }
  SLURM_MUNGED_PID=$(cat "$d/munge/munged.pid")
  local ctld_port slurmd_port
  ctld_port=$(slurm_free_port)
  slurmd_port=$(slurm_free_port)
  cat >"$d/slurm.conf" <<CONF
ClusterName=aptflowtest
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmix
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$d/slurm.conf
  /usr/sbin/slurmctld -D -f "$SLURM_CONF" >"$d/slurmctld.out" 2>&1 &
  SLURM_CTLD_PID=$!
  /usr/sbin/slurmd -D -N localhost -f "$SLURM_CONF" >"$d/slurmd.out" 2>&1 &
  SLURM_SLURMD_PID=$!
  export SLURM_TEST_DIR SLURM_MUNGED_PID SLURM_CTLD_PID SLURM_SLURMD_PID
  local i
  for i in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -q '^idle'; then return 0; fi
    sleep 0.5
  done
  echo "slurm_start: the node did not become idle in 30 s; logs in $d" >&2
  tail -5 "$d/slurmctld.log" "$d/slurmd.log" >&2 2>/dev/null
  return 1
}

# Start a requeued job now instead of after SLURM's BeginTime delay (about 2
# minutes), but only when the node has been idle for 2 s: the delay exists so
# that slurmd has finished the job's previous run (and its revoked credential)
# before the same job id launches again. Released too early, the relaunch can
# fail and SLURM marks the job FAILED (seen once in CI, never here). Returns 0
# when released.
slurm_release_requeued() {
  local job=$1
  scontrol show job "$job" 2>/dev/null | grep -q "Reason=BeginTime" || return 1
  sinfo -h -o '%T' 2>/dev/null | grep -qx 'idle' || return 1
  sleep 2
  sinfo -h -o '%T' 2>/dev/null | grep -qx 'idle' || return 1
  scontrol update JobId="$job" StartTime=now >/dev/null 2>&1
}

# For a failing test: the daemons' log lines that mention a job.
slurm_job_logs() {
  local job=$1
  echo "--- slurmctld.log and slurmd.log lines for job $job"
  grep -h -E "JobId=$job([^0-9]|\$)|job $job([^0-9]|\$)|StepId=$job\." \
    "$SLURM_TEST_DIR/slurmctld.log" "$SLURM_TEST_DIR/slurmd.log" 2>/dev/null | tail -40
}

slurm_stop() {
  local pid
  for pid in ${SLURM_SLURMD_PID:-} ${SLURM_CTLD_PID:-} ${SLURM_MUNGED_PID:-}; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in ${SLURM_SLURMD_PID:-} ${SLURM_CTLD_PID:-} ${SLURM_MUNGED_PID:-}; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  [ -n "${SLURM_TEST_DIR:-}" ] && [ "${SLURM_KEEP_DIR:-0}" != 1 ] && rm -rf "$SLURM_TEST_DIR"
  unset SLURM_MUNGED_PID SLURM_CTLD_PID SLURM_SLURMD_PID
}
