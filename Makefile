# Every target is a thin layer over the go tool; see README.md.
GO       ?= go
FUZZTIME ?= 30s
BENCHTIME ?= 2s
SEEDS    ?= 2000
ROUNDS   ?= 100
SOAKARGS ?=
SOAKSITES ?= 3
SOAKLOGS ?=

.PHONY: all build test vet fmt-check lint race fuzz bench bench-rep bench-resync sim soak demo clean

all: build

build:
	$(GO) build ./...
	$(GO) build -o bin/ ./cmd/...

# The CI job: static checks, then every package's tests under the race
# detector in random order. Fuzz targets run their seed corpora here; long
# fuzzing is `make fuzz`. One package at a time (-p 1): the real-process
# tests run repnode with its default timings, and on two cores the race-
# instrumented simulator beside them starved a master for 100-700 ms at a
# time, long enough for its clients to call an election.
test: vet fmt-check lint
	$(GO) test -race -shuffle=on -p 1 -timeout 9m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Import rules of the design brief (rep and elect stay pure, cmd stays off
# rep internals).
lint:
	$(GO) run ./tools/importlint

race:
	$(GO) test -race -count=1 ./...

# Each fuzz target for FUZZTIME (go test allows one target per run).
fuzz:
	$(GO) run ./tools/fuzzall -fuzztime $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./wal/ ./env/

# Replication throughput, commit latency and CPU per commit of a local
# 3-site group (tools/repbench spawns it), 1 and 16 writers, quorum acks,
# 128-byte values: over HTTP, over RESP (repnode --resp), and with the
# master and the writers in repbench's process (--embedded).
# tools/repbench/compare.sh adds the anchors (Berkeley DB, raft,
# PostgreSQL), redis-benchmark and failover times.
bench-rep:
	$(GO) build -o bin/ ./cmd/...
	$(GO) run ./tools/repbench --spawn 3 --repnode bin/repnode --ack quorum --writers 1 --duration 10s
	$(GO) run ./tools/repbench --spawn 3 --repnode bin/repnode --ack quorum --writers 16 --duration 10s
	$(GO) run ./tools/repbench --spawn 3 --repnode bin/repnode --ack quorum --proto resp --writers 1 --duration 10s
	$(GO) run ./tools/repbench --spawn 3 --repnode bin/repnode --ack quorum --proto resp --writers 16 --duration 10s
	$(GO) run ./tools/repbench --spawn 3 --repnode bin/repnode --ack quorum --embedded --writers 16 --duration 10s

# Re-sync against Berkeley DB in one session: run_bdb.sh catchup and init
# (200k records of 128-byte values), then repbench --resync catchup and
# init on the same data (the master dialing, then the client), then an
# internal init of ~1 GiB against a raw copy+fsync of the master's data
# file; medians and ratios at the end. RUNS trials of each (default 3);
# see tools/repbench/resync.sh for its environment (SKIP=bdb, ...).
RUNS ?= 3
bench-resync:
	tools/repbench/resync.sh $(RUNS)

# Many seeds of the deterministic simulator; each draws its group from
# the flags repnode accepts (elections or appointed masters, leases, a
# witness, the ack policy, priorities, delayed and NoWait clients, peers)
# and its faults. A failure prints its replay command. `make test` runs a
# few hundred. The env-storage pass runs each seed twice and fails a seed
# whose two traces differ: a seed that does not replay is no bug report.
sim:
	$(GO) run ./tools/simrun -seeds $(SEEDS) -twice
	$(GO) run ./tools/simrun -storage mem -seeds $(SEEDS)

# Rounds of write load on three repnode processes, each with a fault in
# the middle (SIGKILL of the master or a client, SIGSTOP or SIGTERM of
# the master, the master's connections or one link cut); after each,
# every write answered permanent must be on the new master. Then as many
# rounds of TestSoakLinearizable: three sites with --leases, writes and
# lease reads of a few shared keys and token reads, the master cut off,
# frozen or its disk filled; porcupine checks the history is
# linearizable. `make test` runs two rounds of each. A failure logs the
# seed that repeats the same choices (-soak.seed). SOAKARGS adds repnode
# flags to every site, e.g. SOAKARGS=--leases; SOAKSITES sets the group
# size (both TestSoakFaults only). SOAKLOGS=DIR keeps every site's log.
soak:
	$(GO) test -run 'TestSoakFaults$$|TestSoakLinearizable$$' -count=1 -timeout 60m -v ./cmd/repnode/ -soak.rounds=$(ROUNDS) -soak.sites=$(SOAKSITES) -soak.args='$(SOAKARGS)' -e2e.logs='$(SOAKLOGS)'

# The main job: three repnode sites on 127.0.0.1 elect a master, replicate,
# lose the master to SIGKILL and fail over; the old master rejoins.
demo:
	$(GO) build -o bin/ ./cmd/...
	$(GO) run ./tools/demo -repnode bin/repnode

clean:
	rm -rf bin
