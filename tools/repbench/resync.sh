#!/bin/bash
# Re-sync against Berkeley DB in one session (issue #13): Berkeley DB 5.3's
# `run_bdb.sh catchup|init` (../shared/bench) and logship's
# `repbench --resync catchup|init` on the same 200k records of 128-byte
# values, one after the other, then an internal init of ~1 GiB (256 KiB
# values) against a raw copy+fsync of the master's data file, then the
# medians and ratios.
#
#   tools/repbench/resync.sh [RUNS]       (default 3 trials of each start)
#
# Environment: OUT (default /tmp/repbench-resync-DATE), BENCH (the
# anchors' folder, default ../shared/bench beside the repository or its
# main worktree), BIN_DIR (anchor binaries, default /tmp/anchor-bin),
# REPNODE (default: built from this tree into $OUT/bin), SKIP (any of
# "bdb logship gib"), DIALS (default "master client": logship runs with
# the master dialing, as site 1, and with --client-dials; "master" alone
# halves the time).
#
# Each run's log gets a LOAD line with `uptime` first: the machine is
# shared, read the figures with the load. Needs root for apt-get
# (libdb5.3-dev gcc) if they are missing. Every server binds 127.0.0.1;
# every run is bounded; what is started is stopped.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${1:-3}
# In a git worktree the anchors sit beside the main checkout instead.
MAIN=$(cd "$REPO" && cd "$(git rev-parse --git-common-dir 2>/dev/null)/.." 2>/dev/null && pwd)
BENCH=${BENCH:-$({ cd "$REPO/../shared/bench" 2>/dev/null || cd "$MAIN/../shared/bench" 2>/dev/null; } && pwd)}
BIN_DIR=${BIN_DIR:-/tmp/anchor-bin}
OUT=${OUT:-/tmp/repbench-resync-$(date +%Y%m%d-%H%M%S)}
SKIP=${SKIP:-}
DIALS=${DIALS:-master client}
export BIN_DIR
mkdir -p "$OUT/bin"

die() { echo "resync.sh: $*" >&2; exit 1; }
skip() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }
note() { echo "LOAD $(date +%H:%M:%S) [$2] $(uptime)" | tee -a "$1"; }

if ! skip bdb; then
  [ -n "$BENCH" ] && [ -x "$BENCH/run_bdb.sh" ] || die "anchors not found (set BENCH=.../shared/bench)"
  if ! dpkg -s libdb5.3-dev gcc >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "needs: apt-get install -y libdb5.3-dev gcc (as root)"
    apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y libdb5.3-dev gcc >/dev/null ||
      die "apt-get install failed"
  fi
  [ -x "$BIN_DIR/bdbrep" ] || "$BENCH/build.sh" || die "anchor build failed"
fi
if [ -z "${REPNODE:-}" ]; then
  (cd "$REPO" && go build -o "$OUT/bin/" ./cmd/repnode) || die "repnode does not build; set REPNODE=/path/to/repnode"
  REPNODE=$OUT/bin/repnode
fi
(cd "$REPO" && go build -o "$OUT/bin/" ./tools/repbench) || die "repbench does not build"
RB=$OUT/bin/repbench
echo "== re-sync against Berkeley DB: $RUNS trials per start; logs in $OUT"

for kind in catchup init; do
  if ! skip bdb; then
    L=$OUT/bdb-$kind.log
    note "$L" "bdb $kind"
    echo "== Berkeley DB run_bdb.sh $kind $RUNS"
    LOG=$L timeout 1800 "$BENCH/run_bdb.sh" "$kind" "$RUNS" | grep '^CATCHUP-WALL'
  fi
  if ! skip logship; then
    for d in $DIALS; do
      L=$OUT/logship-$kind-$d.log
      note "$L" "logship $kind, $d dials"
      flag=""; [ "$d" = client ] && flag=--client-dials
      cmd="$RB --repnode $REPNODE --resync $kind --records 200000 --value-size 128 --runs $RUNS $flag"
      echo "== $cmd"
      echo "+ $cmd" >>"$L"
      timeout 1800 $cmd 2>&1 | tee -a "$L" | grep -E '^(summary|repbench)'
    done
  fi
done

if ! skip gib; then
  for d in $DIALS; do
    L=$OUT/logship-gib-$d.log
    note "$L" "logship 1 GiB init, $d dials"
    flag=""; [ "$d" = client ] && flag=--client-dials
    cmd="$RB --repnode $REPNODE --resync init --data-bytes 1073741824 --value-size 262144 --load-writers 4 --runs $RUNS $flag"
    echo "== $cmd"
    echo "+ $cmd" >>"$L"
    timeout 3600 $cmd 2>&1 | tee -a "$L" | grep -E '^(summary|repbench)'
  done
fi

echo
echo "== summary (medians over trials; ratio = logship records/s over Berkeley DB's)"
python3 - "$OUT" <<'EOF'
import glob, os, re, statistics, sys
out = sys.argv[1]
bdb = {}   # (kind, start) -> [seconds]
for kind in ("catchup", "init"):
    p = os.path.join(out, f"bdb-{kind}.log")
    if os.path.exists(p):
        for m in re.finditer(r"CATCHUP-WALL \[(fresh|lagged)-logs-(kept|removed)\] client process wall time ([0-9.]+)s", open(p).read()):
            bdb.setdefault((kind, m.group(1)), []).append(float(m.group(3)))
ours = {}  # (kind, start, dialer, records) -> [seconds]
for p in sorted(glob.glob(os.path.join(out, "logship-*.log"))):
    for line in open(p):
        if line.startswith("RESULT logship-resync "):
            kv = dict(t.split("=", 1) for t in line.split()[2:] if "=" in t)
            ours.setdefault((kv["kind"], kv["start"], kv["dialer"], kv["records"]), []).append(float(kv["elapsed"].rstrip("s")))
med = statistics.median
print("| kind | start | system | trials | median s | records/s | ratio to Berkeley DB |")
print("|---|---|---|---|---|---|---|")
for (kind, start), v in sorted(bdb.items()):
    print(f"| {kind} | {start} | Berkeley DB 5.3 | {len(v)} | {med(v):.3f} | {200000/med(v):,.0f} | 1 |")
    for (k, s, d, n), w in sorted(ours.items()):
        if k == kind and s == start and n == "200000":
            r = (200000/med(w)) / (200000/med(v))
            print(f"| {kind} | {start} | logship, {d} dials | {len(w)} | {med(w):.3f} | {200000/med(w):,.0f} | {r:.2f}x |")
for (k, s, d, n), w in sorted(ours.items()):
    if n != "200000":
        p = os.path.join(out, f"logship-gib-{d}.log")
        rc = [float(x) for x in re.findall(r"start=%s .*?raw_copy_fsync=([0-9.]+)s" % s, open(p).read())]
        ratio = f"{med(w)/med(rc):.1f}x raw copy+fsync ({med(rc):.2f} s)" if rc else "-"
        print(f"| init ~1 GiB | {s} | logship, {d} dials | {len(w)} | {med(w):.3f} | {int(n)/med(w):,.0f} | {ratio} |")
EOF
echo "logs: $OUT"
