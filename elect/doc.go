// Package elect owns elections, master generations, master leases and the
// witness's status-agent grant: which site of a logship group is master,
// and when it may accept writes. It is pure logic, like rep (design
// decision 4): no goroutines, clock, I/O or global randomness. Time enters
// as ticks ([Node.Tick], TickMillis each), randomness through
// [Config.Rand], messages through [Node.Step]; every side effect comes out
// of one [Ready] whose doc comment gives the order the driver (env) must
// carry it out in: persist [HardState] before sending any message.
//
// # What a site keeps
//
// [HardState] is EGen, the newest election generation the site entered,
// VotedFor, the site it voted for in it, Promised, the newest election in
// which it cast a vote (kept when newer elections clear VotedFor), and on
// a witness the grant holder. The driver writes it to its stable store (raft-boltdb) before
// sending the messages of the same Ready, and passes it back to [New] on
// restart, so a site never votes twice in one election, even across a
// crash.
//
// # Elections
//
// An election starts when no master is known at [Node.Start], when a
// client is told its master is gone ([Node.MasterLost], from rep's
// heartbeat monitor or a broken connection), on request
// ([Node.Campaign]), and again after a failed election, following a
// random back-off in [RetryTicks, 2*RetryTicks). It is Berkeley DB's two
// phases:
//
//  1. A site entering election E (one more than any generation it knows,
//     or the E of a VOTE1 it receives that is newer than its own)
//     persists EGen=E and broadcasts VOTE1: the generation and LSN of its
//     last log record, its priority and a random tiebreaker. Phase 1 ends
//     when every site has been heard, or after VoteWaitTicks once enough
//     sites for a winner have been heard. The first election after
//     start-up is a full election: it waits up to FullElectionTicks for
//     every site, so a slow-booting site with the newest log is not
//     passed over.
//  2. The site picks the best electable candidate it heard, itself
//     included ([Best]: the most up to date by (generation of the last
//     record, LSN), then priority, then tiebreaker; priority 0 and
//     witnesses never win), persists VotedFor, and sends it VOTE2.
//
// A candidate with enough VOTE2 (its own included) wins: a majority of
// the group ([VotesNeeded]; Config.NVotes may ask for more, and for fewer
// only with AllowMinorityVotes), of which enough come from electable
// sites to meet every majority of them ([ElectableVotesNeeded]), which is
// the set rep's quorum ack policy waits for. An electable voter only
// votes for a candidate at least as up to date as itself, so the winner
// holds every commit reported permanent under quorum. The winner is master
// of generation E (greater than every generation seen), emits
// [EventElected] and a RoleMaster decision, and broadcasts MASTER. Each
// site votes once per E, so at most one site is master of a generation.
// An election with no winner after ElectionTicks (plus FullElectionTicks
// for a full one) fails with [EventElectionFailed].
//
// A vote is a promise, as a Raft term is: a site never follows, and its
// driver never passes to rep or acks, a master older than Promised, since
// the candidate it voted for may have won and need this site's acks for
// its own commits; and a voter chooses by the log it holds when it votes,
// which includes records it acked to the old master meanwhile. A master
// that receives a VOTE1 carrying a Promised newer than its generation
// stands down (RoleUnknown) and takes part in the election: that voter
// will never ack it again.
//
// A site that hears a current master (a client not told MasterLost) does
// not join an election, and a master answers a VOTE1 with MASTER, so a
// site cut off from the master alone cannot depose it, and elections do
// not storm.
//
// In a group of exactly two sites and no witness, a majority is both, so
// a lone site does not elect itself (TwoSiteStrict, the default). Without
// TwoSiteStrict a lone site may win on its own vote: availability, at the
// risk of a duplicate master.
//
// # Duplicate masters
//
// A master that hears another master ([Node.MasterSeen], or MASTER)
// compares (generation, then site ID): the lower one yields, becomes a
// client of the other and tells it with MASTER carrying its own
// generation; both emit [EventDupMaster] naming the master that stays.
// The one that stays answers a claimant's claim once a heartbeat
// interval: every message a deposed master had queued carries the claim.
//
// # Master leases
//
// With Config.Leases, a master asks every site for a lease grant each
// HeartbeatTicks (LEASE_REQ, stamped with its tick); a site grants
// (LEASE_GRANT) to the master it follows. The master counts a grant valid
// for LeaseTicks-ClockSkew ticks after its own request stamp, so clock
// drift up to ClockSkew over a lease cannot make it outlive the grantor's
// promise. It serves lease-protected reads ([Node.CanReadLease]) and
// writes ([Node.CanWrite]) only while itself plus valid grants make a
// majority. Two rules keep an old and a new master from both holding:
//
//   - a site that voted in election E refuses grants to masters of older
//     generations until that election must have ended (its longest span
//     plus ClockSkew), so no grant made after a vote can keep the old
//     master's lease alive;
//   - a new master waits LeaseTicks+ClockSkew after winning before it
//     writes or serves lease reads ([ErrLeaseWait]), so grants made
//     before the votes have expired.
//
// The majority of voters that elected the new master meets every majority
// the old one needs, so by the time the new master writes, the old master
// cannot count a majority. Leases assume the majority rule: they give no
// guarantee with AllowMinorityVotes or in a two-site group without
// TwoSiteStrict.
//
// # Witness and status agent
//
// A witness (Config.Witness, repnode --witness) keeps no data, only its
// HardState. It votes and counts toward the majority, and never wins
// (it always stands with priority 0).
//
// In a group of two data sites and one witness, the witness is also the
// status agent that stops both data sites running "not mirrored" at once.
// A master told by the driver that the other data site is gone
// ([Node.Mirrored](false)) asks the witness for its grant each
// HeartbeatTicks (GRANT_REQ) and accepts writes only while it holds one
// (valid GrantTicks-ClockSkew after its request, else [ErrNotMirrored]).
// The witness grants to one data site at a time: it refuses the other
// (GRANT with the holder named), and it also refuses its VOTE2 to the
// other, so the refused site cannot win an election with the witness's
// vote. The witness's vote itself makes the voted-for site a tentative
// holder, which that site confirms as master with its first GRANT_REQ. A
// master mirrored again gives the grant back (GRANT_REQ with Release).
// The holder is part of the witness's HardState, so a restarted witness
// still refuses.
//
// When the holder is gone (crashed, or cut off from the witness), its
// grant expires on the holder first (it stops writing), then on the
// witness GrantTicks after the last refresh. What then is a choice:
//
//   - Consistency (the default): the witness keeps refusing the other
//     data site until the holder returns and releases the grant. The
//     holder may have commits made "not mirrored" that the other site
//     lacks; refusing guarantees none is lost, at the price of no master
//     until the holder (or an operator) returns.
//   - Availability (Config.GrantAfterExpiry on the witness): once the
//     holder's grant has expired the witness grants the other data site,
//     which can then be elected. There is still never a moment with two
//     writers (the expired holder has stopped), but the holder's
//     not-mirrored commits are lost: it rolls them back when it rejoins.
//
// A tentative grant (from a vote whose candidate never confirmed) always
// lapses when it expires: the candidate never wrote anything.
//
// # Planned transfer
//
// [Node.Transfer](to) makes the master refuse writes ([ErrTransferring]);
// the driver lets rep bring the target up to the master's end of log and
// calls [Node.TransferCaughtUp] once the target has acknowledged it; the
// master then sends TRANSFER, and the target starts a forced election
// that sites join even though they know a master. The old master stands
// aside (priority 0) and the target wins ties at equal logs, but the
// most-up-to-date rule still comes first. Without a new master in time
// the transfer fails ([EventTransferFailed]) and writes resume.
//
// # Step-down
//
// [Node.StepDown] tells a site its log cannot be made durable (the driver
// saw its fsync stalled). A master steps down at once ([EventSteppedDown],
// RoleUnknown); until [Node.Recovered] the site neither campaigns nor
// wins, and follows no master. It still votes, standing as priority 0.
//
// A site the others count as electable but that does not stand (stalled,
// handing over in a transfer, or set to priority 0 at run time with
// [Node.SetPriority]) votes only for a candidate whose log is at least as
// up to date as its own: its vote counts toward the electable quorum, so
// it must keep the promise a standing site keeps by counting itself.
//
// # Files
//
// math.go holds the table-tested arithmetic (vote order, thresholds,
// lease and grant validity); node.go the inputs; election.go the two
// phases; lease.go, witness.go, transfer.go and stepdown.go one concern
// each; msg.go
// the wire format (msgpack, Marshal/Unmarshal never panic); ready.go the
// output contract.
package elect
