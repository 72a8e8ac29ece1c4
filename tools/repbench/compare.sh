#!/bin/bash
# The anchor comparison in one command: Berkeley DB 5.3 repmgr (3 sites,
# TCP_NODELAY shim), hashicorp/raft + raft-boltdb (3 nodes), PostgreSQL 15
# (1 synchronous standby), then logship (3 repnode sites, ack quorum) over
# HTTP, over RESP (and over RESP with 2 sites, the topology of
# PostgreSQL's harness), embedded (the writers and the master in repbench's
# process), and under redis-benchmark against the master's RESP listener,
# one at a time on this machine, then failover times; then one table of
# commits/s, p50, p99 and CPU per 1,000 commits (medians over the runs) and
# the ratios of issue #15.
#
#   tools/repbench/compare.sh [RUNS]      (default 3 runs x DUR s per variant)
#
# Environment: DUR (seconds per run, default 10), FAILOVER_RUNS (default 5),
# OUT (default /tmp/repbench-compare-DATE), BENCH (the anchors' folder,
# default ../shared/bench beside the repository), BIN_DIR (anchor binaries,
# default /tmp/anchor-bin), REPNODE (a repnode binary; default: built from
# this tree into $OUT/bin; RESP and redis-benchmark need one with --resp),
# SKIP (any of "bdb raft pg logship resp resp2 embedded redisbench failover";
# logship is the HTTP load), BDB_MATRIX=quorum to run only the quorum/sync
# variants of Berkeley DB instead of all eight.
#
# CPU per commit: the CPU time (user + system) of every process of a
# system's run, servers and load generator, over the commits of that run
# (docs/performance.md, "CPU per commit"):
#   - Berkeley DB: tools/cpuacct runs run_bdb.sh and counts the bdbrep
#     processes (master, whose threads are the writers, and both clients)
#     over their whole lives (--only bdbrep: not the harness's shell and
#     sleeps), over the RESULT line's commits.
#   - raft: cpuacct counts the raftbench process (3 nodes and the
#     appliers) over its whole life, over the RESULT line's n.
#   - PostgreSQL: cpuacct runs run_pg.sh and counts every process it
#     starts (both postmasters and all their processes, pgbench, runuser)
#     over each pgbench's lifetime (--window pgbench), over its
#     transactions (the RESULT line's n).
#   - logship: repbench measures its own process and the repnode
#     processes over the measured window (its CPU line); with
#     redis-benchmark, the sites over the benchmark's life plus
#     redis-benchmark's own, over the commits of the master's /metrics.
# The anchors' figures include their start-up and shutdown (environment
# open, election, a second of waiting), a little in their disfavour.
#
# Each harness writes its own log under $OUT; before every run a "LOAD" line
# with `uptime` goes into that log (the machine is shared, so figures are
# noisy: read them with the load). Every run also leaves a "ROW" line in
# $OUT/rows.txt, which tools/repbench/table.py summarizes. Needs root for
# apt-get (libdb5.3-dev gcc postgresql redis-tools) and for run_pg.sh
# (runuser postgres). Every server binds 127.0.0.1; every run is bounded;
# what is started is stopped.
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
PKGS="libdb5.3-dev gcc postgresql"
skip redisbench || PKGS="$PKGS redis-tools"
if ! dpkg -s $PKGS >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "needs: apt-get install -y $PKGS (as root)"
  echo "== installing $PKGS"
  apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y $PKGS >/dev/null ||
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
(cd "$REPO" && go build -o "$OUT/bin/" ./tools/repbench ./tools/cpuacct) || die "repbench or cpuacct does not build"
RB=$OUT/bin/repbench
CA=$OUT/bin/cpuacct
ROWS=$OUT/rows.txt
: >"$ROWS"
if ! "$REPNODE" --help 2>&1 | grep -q -- '-resp '; then
  echo "   $REPNODE has no --resp: skipping resp and redisbench"
  SKIP="$SKIP resp resp2 redisbench"
fi

val() { # LINE KEY: the number in KEY=... of LINE (unit dropped), or nothing
  echo "$1" | tr ' ' '\n' | sed -n "s/^$2=\([0-9.]*\).*/\1/p" | head -1
}
row() { # SYSTEM VARIANT RESULT-LINE CPU-SECONDS COMMITS: one ROW line
  local rate p50 p99 cpu
  rate=$(val "$3" rate); [ -n "$rate" ] || rate=$(val "$3" tps)
  p50=$(val "$3" p50); p99=$(val "$3" p99)
  cpu=$(awk -v c="$4" -v n="$5" 'BEGIN { if (c != "" && n + 0 > 0) printf "%.1f", c * 1e6 / n; else print "-" }')
  echo "ROW system=$1 variant=$2 rate=${rate:--} p50=${p50:--} p99=${p99:--} cpu_ms_per_1k=$cpu" | tee -a "$ROWS"
}
logship_row() { # VARIANT OUTPUT: the ROW of a repbench run, from its RESULT and CPU lines
  local res cpu
  res=$(echo "$2" | grep '^RESULT logship ' | tail -1)
  cpu=$(echo "$2" | grep '^CPU logship ' | tail -1)
  [ -n "$res" ] || { echo "   (no RESULT line)"; return; }
  row logship "$1" "$res" "$(val "$cpu" cpu_s)" "$(val "$cpu" commits)"
}

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
        out=$(PRELOAD="env LD_PRELOAD=$BIN_DIR/nodelay.so" LOG=$L DUR=$DUR \
          timeout 400 "$CA" --label bdb --only bdbrep --every 100ms -- "$BENCH/run_bdb.sh" one "${v%:*}" "${v#*:}" "$th" "$cnt")
        echo "$out" | grep '^CPU' >>"$L"
        res=$(echo "$out" | grep '^RESULT' | tail -1)
        echo "$res"
        [ -n "$res" ] && row bdb "acks=${v%:*},sync=${v#*:},threads=$th" "$res" \
          "$(val "$(echo "$out" | grep '^CPU .* only=')" cpu)" "$(val "$res" commits)"
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
      out=$(timeout 120 "$CA" --label raft -- $cmd 2>&1 | tee -a "$L")
      res=$(echo "$out" | grep '^RESULT raft ' | tail -1)
      echo "$res"
      [ -n "$res" ] && row raft "appliers=$a" "$res" "$(val "$(echo "$out" | grep '^CPU .* total')" cpu)" "$(val "$res" n)"
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
    out=$(LOG=$L DUR=$DUR timeout 600 "$CA" --label pg --window pgbench --every 100ms -- "$BENCH/run_pg.sh" 1)
    echo "$out" | grep '^CPU' >>"$L"
    # run_pg.sh runs pgbench four times; the i-th RESULT line goes with
    # the i-th pgbench window.
    paste -d '\t' <(echo "$out" | grep '^RESULT pg ') <(echo "$out" | grep '^CPU .* window=pgbench') |
      while IFS=$'\t' read -r res cpu; do
        echo "$res"
        sc=$(echo "$res" | sed -n 's/.*synchronous_commit=\([a-z]*\).*/\1/p')
        row pg "synchronous_commit=$sc,clients=$(val "$res" clients)" "$res" "$(val "$cpu" cpu)" "$(val "$res" n)"
      done
  done
fi

# logship_runs LOG NAME ROW ARGS: RUNS runs at 1 and 16 writers of
# repbench ARGS (its --writers and timing added), each a ROW line
# "ROW,writers=N"; the output of each run is left in $out and its writer
# count in $w for the caller's hook (logship_after, if defined).
logship_runs() {
  local log=$OUT/$1 name=$2 rowname=$3 args=$4 r
  for r in $(seq 1 "$RUNS"); do
    for w in 1 16; do
      note "$log" "$name writers=$w run $r"
      cmd="$RB $args --value-size 128 --writers $w --warmup 2s --duration ${DUR}s"
      echo "+ $cmd" >>"$log"
      out=$(timeout 180 $cmd 2>&1 | tee -a "$log")
      echo "$out" | grep -E '^(RESULT|LAG|CPU|repbench)'
      logship_row "$rowname,writers=$w" "$out"
      [ "$(type -t logship_after)" = function ] && logship_after
    done
  done
  unset -f logship_after
}

if ! skip logship; then
  echo "== logship, 3 repnode sites, ack quorum"
  logship_runs logship.log "logship" http "--spawn 3 --repnode $REPNODE --ack quorum"
fi

if ! skip resp; then
  echo "== logship over RESP (repbench --proto resp), 3 repnode sites, ack quorum"
  # redis-benchmark's -n for as long a run as this one, by its rate.
  logship_after() {
    rate=$(val "$(echo "$out" | grep '^RESULT logship ')" rate)
    [ -n "$rate" ] && eval "RESP_RATE_$w=\${rate%.*}"
  }
  logship_runs logship-resp.log "logship resp" resp "--spawn 3 --repnode $REPNODE --ack quorum --proto resp --variant spawn3-resp"
fi

if ! skip resp2; then
  # PostgreSQL's harness is a primary and one synchronous standby: two
  # servers, two fsyncs per commit. The like-for-like logship group is a
  # master and one client, whose quorum (2 of 2) is both, as
  # synchronous_commit=on is both.
  echo "== logship over RESP, 2 repnode sites (the topology of PostgreSQL's harness), ack quorum (= both)"
  logship_runs logship-resp2.log "logship resp 2 sites" resp-2sites "--spawn 2 --repnode $REPNODE --ack quorum --proto resp --variant spawn2-resp"
fi

if ! skip embedded; then
  echo "== logship embedded (repbench --embedded: the master and the writers in one process, 2 repnode clients), ack quorum"
  logship_runs logship-embedded.log "logship embedded" embedded "--spawn 3 --repnode $REPNODE --ack quorum --embedded"
fi

if ! skip redisbench; then
  # An independent load generator against the master's RESP listener:
  # SET of 128-byte values, keys key:__rand_int__ over 1,000,000, no
  # pipelining, -n sized to last about DUR seconds (from the RESP runs'
  # rate if they ran). Its p50/p99 are its own (the csv's p50_latency_ms
  # and p99_latency_ms columns).
  echo "== logship under redis-benchmark (RESP), 3 repnode sites, ack quorum"
  L=$OUT/logship-redisbench.log
  for r in $(seq 1 "$RUNS"); do
    for c in 1 16; do
      eval "rate=\${RESP_RATE_$c:-}"
      n=$(( ${rate:-$([ "$c" = 1 ] && echo 1000 || echo 3000)} * DUR ))
      note "$L" "logship redis-benchmark clients=$c n=$n run $r"
      cmd="$RB --spawn 3 --repnode $REPNODE --ack quorum --proto resp --variant spawn3-redis-benchmark --value-size 128 --writers $c"
      lc="redis-benchmark -h {host} -p {port} -t set -n $n -c $c -d 128 -P 1 -r 1000000 --csv"
      echo "+ $cmd --load-cmd '$lc'" >>"$L"
      out=$(timeout 300 $cmd --load-cmd "$lc" 2>&1 | tee -a "$L")
      echo "$out" | grep -E '^(RESULT|CPU|repbench)'
      logship_row "redis-benchmark,clients=$c" "$out"
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
echo "== the comparison (medians over runs; CPU of servers and load generator per 1,000 commits)"
python3 "$REPO/tools/repbench/table.py" "$ROWS" | tee "$OUT/table.md"
echo
echo "Failover (kill of the master to a new master / its first accepted write):"
grep -h -E '^RESULT (raft-elect|logship-failover)' $logs
echo
echo "logs and summary: $OUT"
