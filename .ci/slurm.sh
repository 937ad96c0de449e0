#!/usr/bin/env bash
# A single-node Slurm on this machine for tests/test_slurm.py (Debian's slurm-wlm + munge).
#   .ci/slurm.sh install   apt-get install slurm-wlm munge (root; CI)
#   .ci/slurm.sh start     munged, slurmctld, slurmd on localhost; waits until the node is idle
#   .ci/slurm.sh stop      stops the daemons this script started
# State lives in $SLURM_STATE (default /tmp/edwc-slurm); exit 1 with a message if it cannot.
set -euo pipefail
STATE=${SLURM_STATE:-/tmp/edwc-slurm}
CONF=/etc/slurm/slurm.conf
MUNGE_PID=/run/munge/edwc-munged.pid   # munged runs as munge: its pid file lives in its folder

install() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
  [ "$(id -u)" = 0 ] || { echo "slurm: not root, cannot apt-get install slurm-wlm" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

start() {
  [ "$(id -u)" = 0 ] || { echo "slurm: starting the daemons needs root" >&2; exit 1; }
  command -v slurmctld >/dev/null || { echo "slurm: slurm-wlm is not installed" >&2; exit 1; }
  if sinfo -h -o %T 2>/dev/null | grep -qx idle; then return 0; fi
  if [ -f "$CONF" ] && ! head -1 "$CONF" | grep -q "written by .ci/slurm.sh"; then
    echo "slurm: $CONF exists and was not written by .ci/slurm.sh; not touching it" >&2
    exit 1
  fi
  mkdir -p "$STATE"/{spool,ctld,log} /run/munge /etc/slurm
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  fi
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  chmod 0400 /etc/munge/munge.key
  if ! munge -n </dev/null >/dev/null 2>&1; then
    runuser -u munge -- munged --pid-file="$MUNGE_PID" --force
    echo munged > "$STATE/started"
  fi
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
  cat > "$CONF" <<CONFEOF
# written by .ci/slurm.sh: one node (this machine), one partition
ClusterName=edwc
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONFEOF
  echo "$CONF" >> "$STATE/started"
  slurmctld
  slurmd
  echo slurmd >> "$STATE/started"
  for _ in $(seq 1 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then return 0; fi
    sleep 0.5
  done
  echo "slurm: node not idle after 30 s; see $STATE/log" >&2
  exit 1
}

stop() {
  [ -f "$STATE/started" ] || return 0
  for pidfile in "$STATE/slurmd.pid" "$STATE/slurmctld.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  if grep -qx munged "$STATE/started" && [ -f "$MUNGE_PID" ]; then
    kill "$(cat "$MUNGE_PID")" 2>/dev/null || true
  fi
  rm -f "$STATE/started"
}

"${1:?usage: slurm.sh install|start|stop}"
