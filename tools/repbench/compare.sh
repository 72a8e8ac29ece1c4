#!/bin/bash
# The anchor comparison in one command: Berkeley DB 5.3 repmgr (3 sites,
# TCP_NODELAY shim), hashicorp/raft + raft-boltdb (3 nodes), PostgreSQL 15
# (1 synchronous standby), then logship (repbench --spawn 3, ack quorum),
# one at a time on this machine, then failover times, then a summary by
# ../shared/bench/summarize.py.
#
#   tools/repbench/compare.sh [RUNS]      (default 3 runs x DUR s per variant)
#
# Environment: DUR (seconds per run, default 10), FAILOVER_RUNS (default 5),
# OUT (default /tmp/repbench-compare-DATE), BENCH (the anchors' folder,
# default ../shared/bench beside the repository), BIN_DIR (anchor binaries,
# default /tmp/anchor-bin), REPNODE (a repnode binary; default: built from
# this tree into $OUT/bin), SKIP (any of "bdb raft pg logship failover"),
# BDB_MATRIX=quorum to run only the quorum/sync variants of Berkeley DB
# instead of all eight.
#
# Each harness writes its own log under $OUT; before every run a "LOAD" line
# with `uptime` goes into that log (the machine is shared, so figures are
# noisy: read them with the load). Needs root for apt-get (libdb5.3-dev gcc
# postgresql) and for run_pg.sh (runuser postgres). Every server binds
# 127.0.0.1; every run is bounded; what is started is stopped.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${1:-3}
DUR=${DUR:-10}
FAILOVER_RUNS=${FAILOVER_RUNS:-5}
BENCH=${BENCH:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd)}
BIN_DIR=${BIN_DIR:-/tmp/anchor-bin}
OUT=${OUT:-/tmp/repbench-compare-$(date +%Y%m%d-%H%M%S)}
SKIP=${SKIP:-}
export BIN_DIR
mkdir -p "$OUT/bin"

die() { echo "compare.sh: $*" >&2; exit 1; }
skip() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }
note() { # LOGFILE WHAT: a LOAD line, to the log and the terminal
  echo "LOAD $(date +%H:%M:%S) [$2] $(uptime)" | tee -a "$1"
}

[ -n "$BENCH" ] && [ -x "$BENCH/run_bdb.sh" ] || die "anchors not found (set BENCH=.../shared/bench)"

# Prerequisites: Debian packages, anchor binaries, our binaries.
if ! dpkg -s libdb5.3-dev gcc postgresql >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "needs: apt-get install -y libdb5.3-dev gcc postgresql (as root)"
  echo "== installing libdb5.3-dev gcc postgresql"
  apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y libdb5.3-dev gcc postgresql >/dev/null ||
    die "apt-get install failed"
fi
if [ ! -x "$BIN_DIR/bdbrep" ] || [ ! -e "$BIN_DIR/nodelay.so" ] || [ ! -x "$BIN_DIR/raftbench" ]; then
  "$BENCH/build.sh" || die "anchor build failed"
fi
if [ -z "${REPNODE:-}" ]; then
  (cd "$REPO" && go build -o "$OUT/bin/" ./cmd/repnode) || die "repnode does not build; set REPNODE=/path/to/repnode"
  REPNODE=$OUT/bin/repnode
  BUILT="built from $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null)$(cd "$REPO" && git diff --quiet HEAD 2>/dev/null || echo ' with uncommitted changes')"
else
  BUILT="given by REPNODE"
fi
(cd "$REPO" && go build -o "$OUT/bin/" ./tools/repbench) || die "repbench does not build"
RB=$OUT/bin/repbench

echo "== comparison: $RUNS runs x ${DUR}s, failover x $FAILOVER_RUNS; logs in $OUT"
echo "   repnode: $REPNODE ($BUILT)"

if ! skip bdb; then
  echo "== Berkeley DB 5.3 repmgr, 3 sites, TCP_NODELAY shim"
  L=$OUT/bdb.log
  variants="quorum:sync quorum:nosync none:sync none:nosync"
  [ "${BDB_MATRIX:-full}" = quorum ] && variants="quorum:sync"
  for r in $(seq 1 "$RUNS"); do
    for v in $variants; do
      for th in 1 16; do
        cnt=$([ "$th" = 1 ] && echo 200000 || echo 50000)
        note "$L" "bdb ${v/:/ } threads=$th run $r"
        PRELOAD="env LD_PRELOAD=$BIN_DIR/nodelay.so" LOG=$L DUR=$DUR \
          timeout 400 "$BENCH/run_bdb.sh" one "${v%:*}" "${v#*:}" "$th" "$cnt" | grep '^RESULT'
      done
    done
  done
fi

if ! skip raft; then
  # The commands of run_raft.sh, run by run so each gets its LOAD line.
  echo "== hashicorp/raft + raft-boltdb, 3 nodes"
  L=$OUT/raft.log
  for r in $(seq 1 "$RUNS"); do
    for a in 1 16; do
      note "$L" "raft appliers=$a run $r"
      cmd="$BIN_DIR/raftbench -mode apply -appliers $a -dur ${DUR}s"
      echo "+ $cmd" >>"$L"
      timeout 120 $cmd 2>&1 | tee -a "$L" | grep '^RESULT'
    done
  done
  if ! skip failover; then
    for f in false true; do
      note "$L" "raft elect fast=$f"
      cmd="$BIN_DIR/raftbench -mode elect -trials $FAILOVER_RUNS -fast=$f"
      echo "+ $cmd" >>"$L"
      timeout 300 $cmd 2>&1 | tee -a "$L" | grep '^RESULT'
    done
  fi
fi

if ! skip pg; then
  echo "== PostgreSQL 15, 1 synchronous standby"
  L=$OUT/pg.log
  for r in $(seq 1 "$RUNS"); do
    note "$L" "pg run $r"
    LOG=$L DUR=$DUR timeout 600 "$BENCH/run_pg.sh" 1 | grep '^RESULT'
  done
fi

if ! skip logship; then
  echo "== logship, 3 repnode sites, ack quorum"
  L=$OUT/logship.log
  for r in $(seq 1 "$RUNS"); do
    for w in 1 16; do
      note "$L" "logship writers=$w run $r"
      cmd="$RB --spawn 3 --repnode $REPNODE --ack quorum --value-size 128 --writers $w --warmup 2s --duration ${DUR}s"
      echo "+ $cmd" >>"$L"
      timeout 180 $cmd 2>&1 | tee -a "$L" | grep -E '^(RESULT|LAG|repbench)'
    done
  done
fi

if ! skip failover; then
  echo "== logship failover, 3 sites, median of $FAILOVER_RUNS"
  L=$OUT/failover.log
  for sig in "" --freeze; do
    for t in "" --tight; do
      note "$L" "logship failover ${sig:-kill} ${t:-default}"
      cmd="$RB failover --spawn 3 --repnode $REPNODE --runs $FAILOVER_RUNS $t $sig"
      echo "+ $cmd" >>"$L"
      timeout 600 $cmd 2>&1 | tee -a "$L" | grep -E '^(RESULT|repbench)'
    done
  done
fi

echo
echo "== summary (median [min-max] over runs; latencies in us)"
logs=$(ls "$OUT"/*.log 2>/dev/null)
python3 "$BENCH/summarize.py" $logs | tee "$OUT/summary.md"
echo
echo "The comparable rows (durable commits, quorum / synchronous acks):"
grep -E 'bdb acks=quorum sync=sync|raft appliers=[0-9]+ size=128 fast=false nosync=false|pg synchronous_commit=on|logship variant' "$OUT/summary.md"
echo
echo "Failover (kill of the master to a new master / its first accepted write):"
grep -h -E '^RESULT (raft-elect|logship-failover)' $logs
echo
echo "logs and summary: $OUT"
