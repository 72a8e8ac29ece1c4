// Package sim is logship's deterministic simulator: a replication group
// of N sites (3 by default), each a [rep.Node] over real storage, wired
// by an in-memory network, driven through a seeded schedule of faults,
// and checked against the replication invariants. Tests and tools/simrun
// import it; nothing else does.
//
// # What it owns
//
// One run ([Run]) owns everything that can vary: a single PCG random
// source seeded from [Config.Seed] draws the fault profile, the schedule
// (crashes, restarts, partitions, failovers, log archival, when each site
// fsyncs), the workload (which master commits what), and the seed of the
// memnet network (loss, duplication, reordering, delay). Time is a
// virtual clock in ticks; the simulator starts no goroutine and reads no
// clock, so a seed replays exactly: [Result.Hash] hashes the trace, and
// TestSimDeterministic runs seeds twice and compares.
//
// Each tick: the schedule injects its faults and commits, the network
// delivers what is due, and every live site, in ID order, takes its
// messages and connection events ([rep.Node.Step], PeerUp, PeerDown), is
// ticked ([rep.Node.Tick]) and has every [rep.Ready] carried out in the
// contract's order (rollback, chunks, install, append, send, snapshot,
// commits, events, status; then Advance) through a [Storage]. Messages
// travel as bytes through [rep.Marshal] and [rep.Unmarshal].
//
// Storage is, by default, a real env (logship/env, through its
// synchronous replication layer env.Replica) in a temporary directory:
// the log on a vfs.MemFS that outlives the env, bbolt on disk. A crash is
// MemFS.Crash or MemFS.CrashTorn followed by abandoning the env; a
// restart reopens it (recovery), builds a new rep.Node over it and
// rejoins the site as a client. [StorageMem] runs over [rep.MemLog]
// instead: fast, and the reference env is held to.
//
// The master is appointed by the run, as the caller of Berkeley DB's
// rep_start would: at start, when the master has been down a while, and
// at random moments (deposing a live master). The run picks the most
// up-to-date live site by (generation of its last record, LSN), only when
// a majority is up, bumps the generation, calls BecomeMaster on it and
// BecomeClient on the others (each live site is told directly with
// probability [Faults.Tell]; the rest learn from NEWMASTER and heartbeats,
// so a deposed master may go on committing for a while).
//
// # Election mode
//
// With [Config.Elect] (simrun -elect) nobody appoints: each site also
// runs an [elect.Node], and its role comes only from elect's
// RoleDecisions, carried out by the same glue as env's driver
// (env/elect.go; elect.go here): rep NEWMASTER/HEARTBEAT -> MasterSeen,
// EventMasterSilent and a broken connection to the master -> MasterLost,
// durable LSN moves -> UpdateLastRecord, elect's Ready in contract order
// (HardState persisted in a per-site map that survives crashes, before
// any message is sent), writes only while rep is master and elect's
// WriteErr is nil. Both protocols share the network behind env's
// envelope byte ('r', 'e'). One sim tick is one rep tick and one elect
// tick (10 ms each, rep.TickMillis = elect.TickMillis); rep heartbeats
// every 100 ms with a 300 ms monitor, as env sets them for elections.
// The timeouts are elect's DefaultConfig or TightConfig (drawn, or
// [Config.Timeouts]), with or without a full election at start-up;
// [Config.Leases] turns master leases on. The faults add: crashes aimed
// at the master, silent crashes (power loss: no connection reset, only
// the heartbeat monitor notices), mutes (a hung site whose messages are
// lost), and voters crashing right after their VOTE2 and restarting
// mid-election over their persisted HardState. [Failover] is a scripted
// run that measures, in virtual time, how long a group takes to accept
// writes again after its master crashes (BenchmarkFailoverVirtual,
// simrun -failover).
//
// # Fault model
//
//   - Network: per-message loss, duplication, reordering and delay
//     (memnet), and partitions into two groups for a while.
//   - Sites: crash at any tick (unsynced log bytes lost, or a random
//     prefix of an unsynced append kept: a torn write), restart after a
//     random downtime. bbolt is on the real disk and is not crashed: the
//     env only applies records that are durable in the log.
//   - Durability: a site fsyncs at random moments ([Faults.Sync]), so a
//     crash loses a random unsynced tail and acks lag appends.
//   - Archival: a site removes old log (checkpoint, then RemoveLogs) when
//     rep retains nothing for an init ([rep.Node.RetainLSN] is zero), so
//     lagging sites go through internal init.
//   - Failover: the master is deposed and another appointed (above).
//
// After [Config.Ticks] the faults heal: partitions end, a perfect network
// replaces the lossy one, crashed sites restart, commits stop and every
// site fsyncs each tick. The run then continues until the group is
// quiescent (every site a client of the appointed master at its
// generation, caught up and durable to its last record), within
// [Config.SettleTicks].
//
// # Invariants
//
//  1. Every client's log is a prefix of the master's: each record a
//     client holds (from the master's first on) has the same LSN,
//     generation and checksum in the master's log.
//  2. All sites converge to identical data (the env's View contents).
//  3. No commit the master reported permanent is rolled back or lost:
//     a rollback that removes one is reported when it happens; every new
//     master must hold all of them; at the end the master's data holds
//     every one (each commit writes a unique key). The only exemption is a
//     commit reported permanent by a master after the run deposed it (it
//     had not heard yet: the window master leases close).
//
// In election mode, also: at most one site is ever master of a
// generation; no site votes twice in one election generation, nor sends
// a VOTE2 its persisted HardState does not hold; with leases, no two
// sites may at the same instant accept writes (rep master and elect
// CanWrite) or serve lease reads (CanReadLease); no exemption from (3);
// and after the faults heal, a master accepts writes within a bound
// derived from elect's timeouts (healBound: the heartbeat monitor, a
// full election, three failed rounds with their back-offs, the lease
// wait) and every site converges on it.
//
// Besides: the group must become quiescent after the faults heal, every
// message must survive the codec, Step and Appended must not fail, every
// commit gets at most one result, and no site reports Status.Err.
//
// # Replaying a seed
//
// A failing run prints the command that replays it:
//
//	go run ./tools/simrun -seed 1234 -v          # the trace, then the result
//	go test ./rep/sim -run 'TestSim$' -seed=1234 -v
//
// -storage mem replays over rep.MemLog; -sites and -ticks change the
// shape, -elect and -leases the mode (the replay command repeats them).
// make sim SEEDS=N runs N seeds of each mode.
package sim
