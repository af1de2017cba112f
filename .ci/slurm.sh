#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, from Debian's packages, for the tests of
# profiles/slurm (tests/test_slurm_cluster.py). Needs root.
#
#   .ci/slurm.sh start [--accounting]   install what is missing, configure, start the daemons and
#                                       wait until the node is idle (--accounting adds MariaDB and
#                                       slurmdbd, so that sacct answers)
#   .ci/slurm.sh stop                   stop exactly the daemons that start started, by their PIDs
#   .ci/slurm.sh status                 sinfo and squeue, or why not
#
# The node is this machine under its own name, with partitions `cpu` and `gpu` as in the profile
# and one pretend GPU (gres.conf points it at /dev/null: SLURM drops a GPU without a file and marks
# the node invalid), so that paper-scale jobs asking for `gres/gpu:1` are granted. RealMemory is
# set above what the profile's third attempts ask (96000 MB): nothing enforces it here.
set -euo pipefail

STATE=${FACT_SLURM_STATE:-/var/lib/fact-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by fact's .ci/slurm.sh"
PACKAGES=(slurmctld slurmd slurm-client munge)
DB_PACKAGES=(slurmdbd mariadb-server)

say() { echo "slurm.sh: $*" >&2; }
die() { say "$*"; exit 1; }

install_missing() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # policy-rc.d: Debian's scripts would start the daemons with the default configuration
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
}

write_config() {
    local accounting=$1 host cpus
    host=$(hostname -s)
    cpus=$(nproc)
    if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script: refusing to replace a real cluster's configuration"
    fi
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" "$STATE/log"
    cat > "$CONF" <<EOF
$MARK
ClusterName=fact
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# no cgroups in a container: track processes by their parents, bind nothing
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# the node is described here, not probed: the memory it claims may exceed what it has
SlurmdParameters=config_overrides
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
$(if [ "$accounting" = 1 ]; then
    echo "AccountingStorageType=accounting_storage/slurmdbd"
    echo "AccountingStorageHost=localhost"
  else
    echo "AccountingStorageType=accounting_storage/none"
  fi)
# jobs stay visible to squeue this long after they end (Snakemake's status checks need >= 120 s)
MinJobAge=300
KillWait=5
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=200000 Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP
EOF
    echo "Name=gpu File=/dev/null" > /etc/slurm/gres.conf
}

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every second (each try limited to 5 s)
wait_for() {
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq "$seconds"); do
        timeout 5 "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    die "$what did not happen within $seconds s; logs: $STATE/log"
}

start_daemon() {  # start_daemon NAME COMMAND...: run it in the background, record its PID
    local name=$1
    shift
    "$@" > "$STATE/log/$name.out" 2>&1 &
    echo $! > "$STATE/$name.started"
}

start_munge() {
    mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        chown munge:munge /etc/munge/munge.key 2>/dev/null || true
        chmod 400 /etc/munge/munge.key
    fi
    if timeout 5 munge -n >/dev/null 2>&1; then
        say "munged is already running; using it"
        return
    fi
    start_daemon munged runuser -u munge -- munged --foreground
    wait_for 20 "munged answering" sh -c 'munge -n | unmunge'
}

start_accounting() {
    install_missing "${DB_PACKAGES[@]}"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    if ! timeout 5 mysqladmin ping >/dev/null 2>&1; then
        start_daemon mariadbd runuser -u mysql -- mariadbd
        wait_for 60 "MariaDB answering" mysqladmin ping
    fi
    mysql -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db; CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
    cat > /etc/slurm/slurmdbd.conf <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
EOF
    chmod 600 /etc/slurm/slurmdbd.conf
    start_daemon slurmdbd slurmdbd -D
    wait_for 60 "slurmdbd answering" sacctmgr -n list cluster
    sacctmgr -i add cluster fact >/dev/null 2>&1 || true
}

start() {
    local accounting=0 begun
    [ "${1:-}" = "--accounting" ] && accounting=1
    [ "$(id -u)" = 0 ] || die "needs root (it installs packages and starts slurmctld and slurmd as root)"
    begun=$(date +%s)
    install_missing "${PACKAGES[@]}"
    if [ -e "$STATE/started" ]; then
        die "a cluster started by this script is still recorded in $STATE: run '$0 stop' first"
    fi
    write_config "$accounting"
    start_munge
    [ "$accounting" = 1 ] && start_accounting
    start_daemon slurmctld slurmctld -D -i
    wait_for 30 "slurmctld answering" scontrol ping
    start_daemon slurmd slurmd -D
    wait_for 60 "the node becoming idle" sh -c "sinfo -h -N -o %t | grep -qx idle"
    touch "$STATE/started"
    say "cluster up in $(( $(date +%s) - begun )) s (accounting: $([ "$accounting" = 1 ] && echo slurmdbd || echo none))"
    sinfo >&2
}

stop() {
    local name pid
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        [ -e "$STATE/$name.started" ] || continue
        pid=$(cat "$STATE/$name.started")
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$STATE/$name.started"
    done
    rm -f "$STATE/started"
    # the next start begins with no jobs, nodes or reservations from this one
    rm -rf "$STATE/ctld" "$STATE/d"
    say "stopped"
}

status() {
    command -v sinfo >/dev/null || die "SLURM's client is not installed"
    timeout 5 sinfo || die "slurmctld does not answer"
    timeout 5 squeue
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 start [--accounting] | stop | status" ;;
esac
