package sim

import (
	"bytes"
	"flag"
	"fmt"
	"testing"
)

var (
	flagSeed    = flag.Uint64("seed", 0, "replay this one seed (TestSim)")
	flagSeeds   = flag.Int("seeds", 0, "number of seeds TestSim runs (default: 200, 40 with -short)")
	flagFrom    = flag.Uint64("from", 1, "first seed TestSim runs")
	flagStorage = flag.String("storage", "", "storage: env (default) or mem")
	flagElect   = flag.Bool("elect", false, "TestSim: election mode")
	flagLeases  = flag.Bool("leases", false, "TestSim: election mode with master leases")
)

func storageFlag() StorageKind {
	if *flagStorage != "" {
		return StorageKind(*flagStorage)
	}
	return DefaultStorage
}

// runSeed runs one seed and fails the test with the replay command on a
// violation. With -v the whole trace is logged for a replayed seed.
func runSeed(t *testing.T, seed uint64, kind StorageKind, verbose bool) Result {
	t.Helper()
	return runConfig(t, Config{Seed: seed, Storage: kind}, verbose)
}

// runConfig runs cfg as runSeed does.
func runConfig(t *testing.T, cfg Config, verbose bool) Result {
	t.Helper()
	var trace bytes.Buffer
	seed := cfg.Seed
	cfg.Dir = t.TempDir()
	if verbose {
		cfg.Trace = &trace
	}
	res, err := Run(cfg)
	if verbose {
		t.Log("\n" + trace.String())
	}
	cfg.Dir, cfg.Trace = "", nil
	if err != nil {
		t.Fatalf("seed %d: %v\nreplay: %s", seed, err, ReplayCommand(cfg))
	}
	if res.Failed() {
		t.Errorf("%s\nreplay: %s", res, ReplayCommand(cfg))
	}
	return res
}

// TestSim runs many seeds (or, with -seed, replays one with its trace).
func TestSim(t *testing.T) {
	kind := storageFlag()
	if *flagSeed != 0 {
		cfg := Config{Seed: *flagSeed, Storage: kind, Elect: *flagElect || *flagLeases, Leases: *flagLeases}
		res := runConfig(t, cfg, testing.Verbose())
		t.Log(res)
		return
	}
	n := *flagSeeds
	if n == 0 {
		n = 200
		if testing.Short() {
			n = 40
		}
	}
	var total Result
	failed := 0
	for seed := *flagFrom; seed < *flagFrom+uint64(n); seed++ {
		res := runSeed(t, seed, kind, false)
		if res.Failed() {
			failed++
		}
		total.Commits += res.Commits
		total.Permanent += res.Permanent
		total.Crashes += res.Crashes
		total.Failovers += res.Failovers
		total.RolledBack += res.RolledBack
		total.Inits += res.Inits
		if failed >= 5 {
			t.Logf("stopping after %d failing seeds", failed)
			break
		}
	}
	t.Logf("%d seeds from %d (%s): %d commits, %d permanent, %d crashes, %d failovers, %d records rolled back, %d inits",
		n, *flagFrom, kind, total.Commits, total.Permanent, total.Crashes, total.Failovers, total.RolledBack, total.Inits)
}

// TestSimMem runs seeds over rep.MemLog storage: the reference the env
// storage is held to, and fast.
func TestSimMem(t *testing.T) {
	if *flagSeed != 0 {
		t.Skip("replaying one seed with TestSim")
	}
	n := 200
	if testing.Short() {
		n = 50
	}
	failed := 0
	for seed := uint64(1); seed <= uint64(n) && failed < 5; seed++ {
		if runSeed(t, seed, StorageMem, false).Failed() {
			failed++
		}
	}
}

// TestSimDeterministic: the same seed gives the same trace.
func TestSimDeterministic(t *testing.T) {
	for _, mode := range []string{"appoint", "elect", "leases"} {
		for _, kind := range []StorageKind{StorageMem, DefaultStorage} {
			for _, seed := range []uint64{3, 17, 42} {
				t.Run(fmt.Sprintf("%s/%s/%d", mode, kind, seed), func(t *testing.T) {
					cfg := Config{Seed: seed, Storage: kind, Elect: mode != "appoint", Leases: mode == "leases"}
					a := runConfig(t, cfg, false)
					b := runConfig(t, cfg, false)
					if a.Hash != b.Hash {
						t.Fatalf("seed %d: trace hash %016x then %016x", seed, a.Hash, b.Hash)
					}
				})
			}
		}
	}
}

// TestSimRegressions replays seeds that found bugs, each named for the
// bug. A seed is tied to the simulator's schedule code: a change in how
// the run draws its schedule moves the bug to other seeds, so keep a
// scripted test for each bug as well once it is understood.
func TestSimRegressions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		seed  uint64
		kind  StorageKind
		elect bool
		// leases: election mode with master leases.
		leases bool
		sites  int // 0: the default
	}{
		// rep: the master stops retaining its log for an init once the
		// client reaches the master's log end at its first ACK past the
		// snapshot, but the client counts itself "after init" until
		// StartupDone; an archive in between makes the client's LOG_REQ
		// get Outdated and the client stops with ErrInitAbandoned
		// though the master abandoned nothing.
		{"InitAbandonedAfterRetentionEnded", 500, StorageMem, false, false, 0},
		{"InitAbandonedAfterRetentionEnded/2", 4972, StorageMem, false, false, 0},
		// rep: a LOG_NOTAVAIL answering a request sent before an init
		// (delayed or duplicated) reached the client during its
		// catch-up after the init, which took it for the master having
		// dropped the log it needed and stopped with ErrInitAbandoned.
		{"StaleNotAvailAfterInit", 10478, StorageMem, false, false, 0},
		{"StaleNotAvailAfterInit/2", 12419, StorageMem, false, false, 0},
		// env: the first record appended after InstallSnapshot gets a
		// wal CRC with back link 0 (wal.Log.Reset sets prevOff 0), not
		// the master's, so its identity (Gen, Checksum) differs from the
		// master's record at the same LSN: verify mismatches, permanent
		// records get rolled back and re-fetched, logs are not prefixes.
		{"EnvChecksumAfterInstall", 22, StorageEnv, false, false, 0},
		{"EnvChecksumAfterInstall/2", 35, StorageEnv, false, false, 0},
		// env: a transaction on a new master (env.Replica.Commit) reads
		// through the overlay, which holds only local commits, and bbolt,
		// where the applier may not yet have applied the records the site
		// received as a client: it reads stale values and records stale
		// before-images, so a later rollback restores old values and the
		// sites' data diverge (and runs are not deterministic).
		{"EnvNewMasterReadsUnappliedRecords", 419, StorageEnv, false, false, 0},
		{"EnvNewMasterReadsUnappliedRecords/2", 582, StorageEnv, false, false, 0},
		// elect: a restarted site followed a master older than the
		// generation of its own last record (elect forgets generations
		// on restart), rolling back a newer generation's permanent
		// commits. elect.TestRestartedSiteRefusesMasterOlderThanItsLog.
		{"ElectRestartedSiteFollowsStaleMaster", 179, StorageMem, true, false, 0},
		{"ElectRestartedSiteFollowsStaleMaster/2", 206, StorageMem, true, false, 0},
		// elect: joining each newer election restarted the full-election
		// wait, so a restarted site waiting for a VOTE1 from a site
		// acting as master never voted and two live sites of three
		// could not elect. elect.TestFullElectionWaitRunsOnce.
		{"ElectFullWaitRestarted", 147, StorageMem, true, false, 0},
		// elect: a site's vote did not outlive newer elections, so after
		// voting in election E and entering E+1 (or restarting) it
		// followed a master older than E, acked its commits, and that
		// stale master reported them permanent though E's winner lacked
		// them (126); or a site that still knew the newer generation
		// refused the stale master forever (278, 407, 417, 57 and 80
		// with leases). HardState.Promised, the promise floor rep
		// messages are filtered by, and a master standing down on a
		// VOTE1 promising a newer election fix both.
		{"ElectVoteOutlivedByNewerElection", 126, StorageMem, true, false, 0},
		{"ElectStaleMasterRefusedForever", 278, StorageMem, true, false, 0},
		{"ElectStaleMasterRefusedForever/2", 407, StorageMem, true, false, 0},
		{"ElectStaleMasterRefusedForever/3", 417, StorageMem, true, false, 0},
		{"ElectStaleMasterRefusedForever/leases", 57, StorageMem, true, true, 0},
		{"ElectStaleMasterRefusedForever/leases2", 80, StorageMem, true, true, 0},
		// elect: a voter compared candidates with its own log as it was
		// when it joined the election, though it had since received and
		// acked more of the old master's records, which that master then
		// reported permanent: it voted for a candidate lacking them.
		// elect.TestVoterChoosesByItsLogAtVoteTime.
		{"ElectVoterUsesStaleOwnLog", 1535, StorageMem, true, false, 0},
		{"ElectVoterUsesStaleOwnLog/2", 2942, StorageMem, true, false, 0},
		{"ElectVoterUsesStaleOwnLog/3", 3453, StorageMem, true, false, 0},
		// rep: a snapshot of an empty log is at 0/0, which serving
		// took for "no init": nothing was retained for the client, and
		// a later init reused that snapshot though the log after it had
		// been archived, so the client stopped with ErrInitAbandoned.
		{"InitFromEmptySnapshot", 3692, StorageMem, true, true, 0},
		{"InitFromEmptySnapshot/2", 2974, StorageMem, true, true, 0},
		// rep: a LOG_NOTAVAIL answering a request made before an init
		// arrived after the client had caught up and acked past the
		// snapshot; with no request outstanding it was not taken for
		// stale, and the client re-initialised below records it had
		// acked, which a later master then lacked.
		{"StaleNotAvailAfterCatchUp", 6136, StorageMem, true, false, 0},
		// rep: an ack of the snapshot LSN itself ended a client's init on
		// an idle master; cut off before its first LOG_REQ, the client
		// found the log archived and stopped with ErrInitAbandoned.
		{"InitEndedByAckOfSnapshot", 6957, StorageMem, true, true, 0},
		// env and sim glue: clients reported their master silent and went
		// to an election, then a MASTER the master sent before it crashed
		// put them back as its clients. rep was still its client and had
		// reported that silence already, so it never reported again: the
		// restarted site no longer acted as master, and three of five
		// sites followed it forever. rep.Node.MasterHeard restarts the
		// monitor. rep.TestMasterHeardRestartsMonitor.
		{"FollowedDeadMasterForever", 401086, StorageEnv, true, true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.kind != StorageMem && *flagStorage == string(StorageMem) {
				t.Skip("-storage mem")
			}
			runConfig(t, Config{Seed: tc.seed, Storage: tc.kind, Elect: tc.elect, Leases: tc.leases, Sites: tc.sites}, false)
		})
	}
}

// TestSimElect runs election-mode seeds over rep.MemLog storage, without
// and with master leases, and a few over env storage.
func TestSimElect(t *testing.T) {
	if *flagSeed != 0 {
		t.Skip("replaying one seed with TestSim")
	}
	n, nEnv := 120, 15
	if testing.Short() {
		n, nEnv = 40, 5
	}
	for _, tc := range []struct {
		name   string
		leases bool
		kind   StorageKind
		n      int
	}{
		{"mem", false, StorageMem, n},
		{"mem/leases", true, StorageMem, n},
		{"env", false, StorageEnv, nEnv},
		{"env/leases", true, StorageEnv, nEnv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failed := 0
			var total Result
			for seed := uint64(1); seed <= uint64(tc.n) && failed < 5; seed++ {
				cfg := Config{Seed: seed, Storage: tc.kind, Elect: true, Leases: tc.leases}
				res := runConfig(t, cfg, false)
				if res.Failed() {
					failed++
				}
				total.Elections += res.Elections
				total.Permanent += res.Permanent
				total.Crashes += res.Crashes
				total.HealElectTicks = max(total.HealElectTicks, res.HealElectTicks)
			}
			t.Logf("%d seeds: %d elections won, %d commits permanent, %d crashes, a master at most %d ticks after heal",
				tc.n, total.Elections, total.Permanent, total.Crashes, total.HealElectTicks)
		})
	}
}

// BenchmarkFailoverVirtual measures failover in virtual time: over many
// seeds (one per iteration: -benchtime 200x), the master of a healthy
// group under load crashes, and the metric is the virtual milliseconds
// until another site accepts a write, median and p99. rep heartbeats
// every 100 ms and declares a master silent after 300 ms, as env does
// with elections.
func BenchmarkFailoverVirtual(b *testing.B) {
	for _, tc := range []struct {
		name     string
		timeouts Timeouts
		leases   bool
		silent   bool
	}{
		{"default", TimeoutsDefault, false, false},
		{"tight", TimeoutsTight, false, false},
		{"default/leases", TimeoutsDefault, true, false},
		{"tight/leases", TimeoutsTight, true, false},
		{"default/silent", TimeoutsDefault, false, true},
		{"tight/silent", TimeoutsTight, false, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var ms []int
			seed := uint64(0)
			for b.Loop() {
				seed++
				v, res, err := Failover(FailoverConfig{Seed: seed, Timeouts: tc.timeouts, Leases: tc.leases, Silent: tc.silent, Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				if res.Failed() {
					b.Fatalf("%s", res)
				}
				ms = append(ms, v)
			}
			b.ReportMetric(float64(Percentile(ms, 50)), "median-ms")
			b.ReportMetric(float64(Percentile(ms, 99)), "p99-ms")
		})
	}
}
