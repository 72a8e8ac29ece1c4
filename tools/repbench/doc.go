// Command repbench is a load generator for a running logship group, and a
// failover timer.
//
// Load (the default mode, or "repbench run"): N writers each send one PUT
// /v1/kv/{bucket}/{key} at a time (one key per transaction) over keep-alive
// connections to the master, which it finds through GET /v1/status. After
// --warmup it measures for --duration and prints commits/s, p50/p99/max
// commit latency (from a fixed-size log-linear histogram, under 2% error),
// how many writes answered permanent=false, and the replication lag: the
// largest lag_bytes over the clients in the master's /v1/status, sampled
// every --lag-every during the measured window.
//
//	repbench --nodes 127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003 --writers 16
//	repbench --spawn 3 --repnode bin/repnode --ack quorum --writers 16 --duration 10s
//
// --spawn N starts its own group of N repnode processes on 127.0.0.1, on
// free ports, in a temporary directory; the sites are stopped and the
// directory removed when repbench ends, on error and on SIGINT too (and if
// repbench is killed, the sites get SIGKILL from the kernel).
//
// The last lines are for machines. The RESULT line has the shape of the
// anchor harnesses' (../shared/bench), so their summarize.py groups and
// summarizes it with theirs:
//
//	RESULT logship variant=spawn3 ack=quorum sites=3 writers=16 size=128 n=.. elapsed=..s rate=../s p50=..us p99=..us max=..us perm_failed=.. errors=..
//
// Latencies are in microseconds, as the anchors print them; the lag goes on
// a separate "LAG logship ..." line, since summarize.py would take any
// extra key of the RESULT line for part of the variant.
//
// With --spawn it also prints the CPU per commit: the CPU time (user and
// system, from /proc/PID/stat) of the sites' processes and of repbench
// itself over the measured window, over the commits in it:
//
//	CPU logship variant=spawn3 writers=16 commits=.. cpu_s=.. sites_cpu_s=.. bench_cpu_s=.. cpu_ms_per_1k=..
//
// --proto resp writes over the Redis protocol instead: each spawned site
// gets --resp 127.0.0.1:PORT (with --nodes, --resp-nodes lists them), and
// each writer holds a connection to the master's and sends SET key value
// (the same keys), --pipeline N at a time. +OK is a permanent commit,
// -NOTPERMANENT a commit that is not permanent (perm_failed), anything
// else an error.
//
//	repbench --spawn 3 --repnode bin/repnode --proto resp --writers 16 [--pipeline 8]
//
// --embedded runs the master inside repbench: site 1 is opened in this
// process from the command line its repnode would get (through
// internal/daemon and env/site, as repnode opens it; --master), sites 2..N
// are repnode processes (--client --master-id 1), and the writers call
// site.Update, as Berkeley DB's and raft's harnesses write inside their
// master. The CPU per commit then covers repbench (master and writers)
// and the other sites.
//
//	repbench --spawn 3 --repnode bin/repnode --embedded --writers 16
//
// --load-cmd runs another load generator against the spawned group once it
// is up, with {host} and {port} (the master's RESP, or HTTP, address) and
// {http} filled in, and measures it whole: the sites' CPU over its life
// plus its own, over the commits of the master's /metrics; from
// redis-benchmark --csv output it also prints a RESULT line (rps, p50,
// p99).
//
//	repbench --spawn 3 --repnode bin/repnode --proto resp --writers 16 \
//	    --load-cmd 'redis-benchmark -h {host} -p {port} -t set -n 50000 -c 16 -d 128 -P 1 -r 1000000 --csv'
//
// Failover ("repbench failover --spawn 3 --runs 5 [--tight]"): starts a
// group, writes to the master steadily for --settle, kills the master with
// SIGKILL and measures the time from the kill to the first write a
// surviving site accepts (and, for comparison with the raft harness, to the
// first survivor answering role=master); then restarts the killed site on
// its directory, waits for it to rejoin as a client, and repeats. It prints
// each trial and the median, and a "RESULT logship-failover ..." line
// shaped like the raft harness's "RESULT raft-elect ...". --tight starts
// the sites with --heartbeat 30ms --heartbeat-monitor 100ms
// --election-timeout 200ms (the raft harness's -fast uses 100 ms timeouts;
// repnode refuses an election timeout not above elect's vote wait, 100 ms,
// which has no flag). --freeze sends SIGSTOP instead of SIGKILL: a hung
// master whose connections stay open, so the survivors notice it only by
// missed heartbeats (a killed process's connections close at once).
//
// Re-sync ("repbench --resync catchup|init"): how fast a client catches up
// with a master holding --records records it lacks (default 200,000 of
// 8-byte keys and --value-size 128-byte values, as the Berkeley DB
// harness's `run_bdb.sh catchup|init`), or --data-bytes of them. Each
// trial starts two sites with appointed roles (--master, --client), loads
// the master with --load-writers concurrent PUTs (ack none), and times a
// client from its process start until its /v1/status says sync_state
// "ready" with applied_lsn at the master's lsn (polled every --poll,
// 10 ms): a fresh client (empty directory) and a lagged one (synced
// before the load, stopped, restarted). catchup keeps the master's log;
// init archives it first (POST /v1/admin/archive {"force":true}, 4 MiB
// log files) and checks the client's logship_inits_done_total, then times
// a raw read+write+fsync copy of the master's data.db, the physical floor
// of an init. It prints records/s, MB/s, the CPU time of both processes
// over the re-sync (from /proc), the phases the client's status went
// through, a RESULT line per trial for summarize.py and a summary;
// --profile DIR saves CPU profiles of both sites (they run with --pprof).
// The master is site 1, so by the transport's rule (the lower id dials)
// the client waits for the master's next reconnect attempt;
// --client-dials swaps the ids, as Berkeley DB's client dials its helper.
//
//	repbench --resync catchup --records 200000 --value-size 128 --runs 3
//	repbench --resync init --data-bytes 1073741824 --value-size 262144 --load-writers 4
//
// tools/repbench/resync.sh runs these beside Berkeley DB's and prints the
// ratios.
//
// tools/repbench/compare.sh runs the anchors (Berkeley DB, hashicorp/raft,
// PostgreSQL, their CPU measured by tools/cpuacct) and repbench (HTTP,
// RESP, embedded, redis-benchmark) one after the other on this machine
// and prints one table with the CPU per commit of each (table.py).
package main
