// Package sim is logship's deterministic simulator: a replication group
// whose sites run the code a repnode daemon runs, configured as repnode
// configures them, wired by an in-memory network, driven through a seeded
// schedule of faults, and checked against the promises of
// docs/guarantees.md. Tests and tools/simrun import it; nothing else does.
//
// # What runs
//
// Each site is a [sitecore.Core], the pure site core the replication
// runtime (env/site) drives: rep, elect and the rules between them. Its
// configuration is built the way repnode builds it: a repnode
// configuration per site ([internal/daemon.Config], the flags),
// validated by the daemon's Validate, translated by the daemon's
// SiteConfig and the runtime's CoreConfig; its storage is a real env
// opened with the daemon's env configuration, carried out through the
// calls the runtime makes (env.Replica.CarryOut, env.Append and
// Pending.Durable, env.Admit and env.Shut, env.ViewAt). What the run
// replaces is the transport (memnet), the clock (ticks) and the disk under
// the log (a crashable vfs.MemFS behind a vfs.Injector; bbolt is on the
// real disk). [StorageMem] runs over [rep.MemLog] instead: fast, and the
// reference env is held to.
//
// # What a seed draws
//
// One run ([Run]) owns everything that can vary: a single PCG random
// source seeded from [Config.Seed] draws the group ([Group]: elections
// or appointed masters, master leases, two data sites and a witness or
// three to five data sites, the ack policy (all six), each site's
// priority (0 included, ties likely), delayed clients, NoWait, a
// client-to-client peer, the election timeouts, heartbeat, ack timeout,
// log file size and throttle), the fault profile ([Faults]), the
// schedule, the workload and the seed of the memnet network. Time is a
// virtual clock in ticks; the simulator starts no goroutine of its own
// and reads no clock (env's applier is a goroutine, whose progress only
// notes in the trace depend on), so a seed replays exactly: [Result.Hash]
// hashes the trace, and TestSimDeterministic runs seeds twice and
// compares. [Config.Mode] fixes the kind of group.
//
// Each tick: the schedule injects its faults, commits, reads and
// operator commands, the network delivers what is due, and every live
// site, in ID order, takes its messages and connection events, is ticked,
// has every Ready carried out in its contract's order (drive.go), and runs
// the runtime's per-tick duties (the storage-failure watch, a transfer's
// catch-up check, lease reads waiting for the commit point). A site that
// becomes a writable master first commits a record of no writes, as the
// runtime does.
//
// # Fault model
//
//   - Network: per-message loss, duplication, reordering and delay
//     (memnet), partitions into two groups for a while, single links cut
//     for a while (connectivity that is not transitive), and mutes (a
//     site's messages lost without a connection event, as a hung process).
//   - Sites: crash at any tick, or between shipping a commit and making it
//     durable (unsynced log bytes lost, or a torn prefix kept), silently
//     or not (a power loss leaves the connections up), voters right after
//     their VOTE2; restart after a random downtime.
//   - Storage: a site's log starts failing (ENOSPC or EIO on write, EIO on
//     fsync, ENOSPC or EMFILE on open); its core halts, as the runtime
//     halts it, and the run restarts it, repaired, a while later.
//   - Durability: a site fsyncs at random moments, so acks lag appends.
//   - Archival: a site removes old log when rep retains nothing, so
//     lagging sites need internal init.
//   - Appointment mode: the run deposes the master and appoints the most
//     up-to-date live electable site (telling the others directly or
//     not), as an operator of --master/--client sites would.
//   - Operators: run-time priority changes, planned transfers (to any
//     data site, priority 0 included), syncs of delayed clients.
//
// After [Config.Ticks] the faults heal: partitions end, a perfect network
// replaces the lossy one, crashed and failed sites restart repaired,
// priorities go back to their flags, delayed clients are synced, commits
// stop and every site fsyncs each tick. The run then continues until the
// group is quiescent (one master accepting writes, every site its client
// at its generation, caught up and durable), within [Config.SettleTicks].
//
// # Invariants
//
//  1. Every client's log is a prefix of the master's, and all sites
//     converge to identical data.
//  2. Each ack policy's promise: a commit reported permanent under a
//     policy that puts it on a majority of the electable sites (quorum,
//     all_peers, all; one_peer with at most three electable sites) is
//     never rolled back, every new master holds it, and the final data
//     has it. Appointment mode exempts a commit reported by a master the
//     run had deposed (elections close that window).
//  3. Nothing at or before a master's commit point is ever rolled back,
//     whatever the policy.
//  4. No lease read returns a record that is later rolled back (a lease
//     read answers once the commit point covers what it read), and with
//     leases no two sites may at one instant write or serve lease reads.
//  5. A token read never succeeds on a site holding another record at the
//     token's LSN (it returns the commit's own value), and never answers
//     "will never be applied" for a commit a promise covers or a final
//     record. A read on the master sees every commit that returned.
//  6. Elections: at most one master per generation; no site votes twice
//     in an election generation, nor sends a VOTE2 its persisted state
//     does not hold; a site's electability never changes once persisted;
//     after the faults heal a master accepts writes within a bound derived
//     from the timeouts.
//  7. The group becomes quiescent after the faults heal, every message
//     survives the codec, the core accepts every message, every commit
//     gets at most one result, and no site reports a status error.
//
// # Replaying a seed
//
// A failing run prints the command that replays it:
//
//	go run ./tools/simrun -seed 1234 -v          # the trace, then the result
//	go test ./rep/sim -run 'TestSim$' -seed=1234 -v
//
// -storage mem replays over rep.MemLog; -mode, -sites, -ticks and
// -timeouts fix parts of the draw (the replay command repeats them).
// make sim SEEDS=N runs N seeds over each storage.
package sim
