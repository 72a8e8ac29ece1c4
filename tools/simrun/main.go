// Command simrun runs the deterministic simulator (logship/rep/sim) over
// many seeds, or replays one with its trace.
//
//	go run ./tools/simrun -seeds 2000 -from 1     # make sim SEEDS=2000
//	go run ./tools/simrun -seed 1234 -v           # replay one seed, print its trace
//	go run ./tools/simrun -seeds 500 -twice       # check that every seed replays
//
// Each seed draws its group (election mode or appointed masters, leases,
// a witness, the ack policy, each site's priority and flags) unless -mode
// fixes the kind.
//
// It prints a summary and exits 1 if any seed violated an invariant,
// printing for each the one command that replays it.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"logship/rep/sim"
)

func main() {
	var (
		seed    = flag.Uint64("seed", 0, "replay this one seed")
		seeds   = flag.Int("seeds", 500, "number of seeds to run")
		from    = flag.Uint64("from", 1, "first seed")
		verbose = flag.Bool("v", false, "print the trace (with -seed) or every seed's result")
		storage = flag.String("storage", string(sim.DefaultStorage), "site storage: env or mem")
		sites   = flag.Int("sites", 0, "sites per run (default 3)")
		ticks   = flag.Int("ticks", 0, "ticks of faults per run (default 300)")
		stop    = flag.Int("maxfail", 10, "stop after this many failing seeds (0: never)")
		mode    = flag.String("mode", "", "fix the kind of group: appoint, elect, leases or witness (default: drawn from the seed)")
		leases  = flag.Bool("leases", false, "with -failover: master leases")
		tmo     = flag.String("timeouts", "", "election timeouts: default or tight (default: drawn from the seed)")
		fo      = flag.Bool("failover", false, "measure failover in virtual time over -seeds seeds (with -timeouts, -leases, -silent)")
		silent  = flag.Bool("silent", false, "with -failover: the master loses power instead of its process dying")
		twice   = flag.Bool("twice", false, "run each seed twice and count a seed whose two traces differ as failed: a seed must replay")
	)
	flag.Parse()
	if *fo {
		os.Exit(failover(*from, *seeds, sim.Timeouts(*tmo), *leases, *silent, sim.StorageKind(*storage), *verbose))
	}
	cfg := sim.Config{Storage: sim.StorageKind(*storage), Sites: *sites, Ticks: *ticks,
		Mode: sim.Mode(*mode), Timeouts: sim.Timeouts(*tmo)}
	replay := func(s uint64) string {
		c := cfg
		c.Seed = s
		return sim.ReplayCommand(c)
	}

	if *seed != 0 {
		cfg.Seed = *seed
		if *verbose {
			cfg.Trace = os.Stdout
		}
		res, err := sim.Run(cfg)
		fmt.Println(res)
		if err != nil {
			fmt.Fprintf(os.Stderr, "seed %d: %v\n", *seed, err)
			os.Exit(1)
		}
		if res.Failed() {
			os.Exit(1)
		}
		return
	}

	start := time.Now()
	var total sim.Result
	memberRuns := 0
	modes, acks := map[string]int{}, map[string]int{}
	var failed []uint64
	for s := *from; s < *from+uint64(*seeds); s++ {
		cfg.Seed = s
		res, err := sim.Run(cfg)
		if *twice && err == nil {
			if again, aerr := sim.Run(cfg); aerr == nil && again.Hash != res.Hash {
				res.Violations = append(res.Violations, fmt.Sprintf("seed %d does not replay: trace hash %016x, then %016x (diff the traces of two -v runs)", s, res.Hash, again.Hash))
			}
		}
		if *verbose || res.Failed() || err != nil {
			fmt.Println(res)
		}
		if err != nil || res.Failed() {
			if err != nil {
				fmt.Printf("seed %d: %v\n", s, err)
			}
			fmt.Printf("  replay: %s\n", replay(s))
			failed = append(failed, s)
			if *stop > 0 && len(failed) >= *stop {
				break
			}
		}
		total.Commits += res.Commits
		total.Permanent += res.Permanent
		total.Exempt += res.Exempt
		total.Crashes += res.Crashes
		total.Failovers += res.Failovers
		total.Partitions += res.Partitions
		total.LinkCuts += res.LinkCuts
		total.RolledBack += res.RolledBack
		total.Inits += res.Inits
		total.BadSnapshots += res.BadSnapshots
		total.DiscardChecks += res.DiscardChecks
		total.DiscardsShared += res.DiscardsShared
		total.Messages += res.Messages
		total.Ticks += res.Ticks
		total.StorageFaults += res.StorageFaults
		total.LeaseReads += res.LeaseReads
		total.TokenReads += res.TokenReads
		total.NeverApplied += res.NeverApplied
		total.Transfers += res.Transfers
		total.PriorityChanges += res.PriorityChanges
		total.MemberChanges += res.MemberChanges
		if res.MemberChanges > 0 {
			memberRuns++
		}
		total.Elections += res.Elections
		modes[modeOf(res.Group)]++
		acks[res.Group.Ack]++
	}
	fmt.Printf("simrun: %d seeds from %d (%s storage) in %s: %d ticks, %d messages, %d commits (%d permanent, %d exempt), %d crashes, %d failovers, %d partitions, %d links cut, %d records rolled back, %d inits (%d damaged snapshots; %d discards after a shared record, %d checked against the master)\n",
		*seeds, *from, cfg.Storage, time.Since(start).Round(time.Millisecond), total.Ticks, total.Messages,
		total.Commits, total.Permanent, total.Exempt, total.Crashes, total.Failovers, total.Partitions, total.LinkCuts, total.RolledBack, total.Inits, total.BadSnapshots, total.DiscardsShared, total.DiscardChecks)
	fmt.Printf("simrun: groups %v, ack policies %v; %d elections won, %d storage faults, %d lease reads, %d token reads (%d never applied), %d transfers, %d priority changes, %d membership changes in %d runs\n",
		modes, acks, total.Elections, total.StorageFaults, total.LeaseReads, total.TokenReads, total.NeverApplied, total.Transfers, total.PriorityChanges, total.MemberChanges, memberRuns)
	if len(failed) > 0 {
		fmt.Printf("simrun: %d failing seeds: %v\n", len(failed), failed)
		for _, s := range failed {
			fmt.Printf("  %s\n", replay(s))
		}
		os.Exit(1)
	}
	fmt.Println("simrun: every invariant held")
}

// modeOf names a group's kind for the summary.
func modeOf(g sim.Group) string {
	switch {
	case !g.Elect:
		return "appoint"
	case len(g.Members) == 3 && g.Members[2].Witness:
		return "witness"
	case g.Leases:
		return "leases"
	}
	return "elect"
}

// failover measures, over seeds, the virtual time from a master's crash
// to the first write a new master accepts (sim.Failover).
func failover(from uint64, seeds int, t sim.Timeouts, leases, silent bool, storage sim.StorageKind, verbose bool) int {
	if t == "" {
		t = sim.TimeoutsDefault
	}
	var ms []int
	for s := from; s < from+uint64(seeds); s++ {
		v, res, err := sim.Failover(sim.FailoverConfig{Seed: s, Timeouts: t, Leases: leases, Silent: silent, Storage: storage})
		if err != nil || res.Failed() {
			fmt.Printf("%s\nseed %d: %v\n", res, s, err)
			return 1
		}
		if verbose {
			fmt.Printf("seed %d: %d ms\n", s, v)
		}
		ms = append(ms, v)
	}
	fmt.Printf("failover (timeouts %s, leases %t, silent %t): %s\n", t, leases, silent, sim.FailoverSummary(ms))
	return 0
}
