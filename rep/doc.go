// Package rep is logship's replication protocol: a pure, deterministic
// state machine modeled on Berkeley DB replication. It owns roles, the
// messages, log shipping and bulk transfer, acknowledgements and ack
// policies, the verify walk-back to the sync point and the rollback
// decision, gap repair with re-requests and back-off, client-to-client
// sync, delayed sync, internal init, warm resume, throttling, heartbeats
// and statistics.
//
// It has no goroutines, clocks, randomness or I/O: it imports none of
// time, os, net, sync, math/rand, env or bbolt (imports_test.go checks).
// Time enters as [Node.Tick] (one tick = [TickMillis] ms by convention);
// the local log is read through the [LogReader] interface it declares;
// snapshots are read through [SnapshotReader].
//
// # Driving a node
//
// One goroutine (the replication runtime, env/site) owns a [Node]:
//
//	n, err := rep.New(cfg)
//	n.BecomeMaster(gen) or n.BecomeClient(master, gen)   // rep_start
//	loop:
//	    n.Step(msg)            // a message arrived (decoded with Unmarshal)
//	    n.Tick()               // every TickMillis
//	    n.Appended(recs)       // master: records written to the local log
//	    n.Persisted(lsn)       // the local log is durable up to lsn
//	    n.PeerUp(id) / n.PeerDown(id)    // transport connection changes
//	    n.SnapshotTaken(info, r)         // answer to Ready.TakeSnapshot (master, or a client serving its peer)
//	    n.Sync()               // delayed client: synchronise now (rep_sync)
//	    rd := n.Ready()        // all side effects, see [Ready] for the order
//	    ... carry rd out ...
//	    n.Advance(rd)
//
// Messages travel as bytes: [Marshal] and [Unmarshal] have exactly the
// signatures of the transport's codec, so the driver plugs them in as
//
//	codec := transport.Codec[rep.Message]{Encode: rep.Marshal, Decode: rep.Unmarshal}
//
// (rep does not import rep/transport, which does I/O). Unmarshal
// validates every received body and never panics; a body it rejects is
// dropped, as a lost message would be. The bytes are msgpack maps
// (docs/protocol.md), written and read by hand for speed and checked
// against the msgpack library by tests and a fuzzer (codec.go).
//
// [Ready]'s doc comment is the contract: roll back, write chunks, install,
// append, then send; appends need not be fsynced before sending, because
// a client acknowledges only what [Node.Persisted] reported durable.
//
// # Invariants
//
//   - A client appends a record only if its Prev is the client's last
//     record, so a client's log is always a prefix of its master's log
//     from the sync point on; a record ahead of a gap waits in a bounded
//     buffer; one at or before the last is a duplicate.
//   - A client acknowledges only durable records; the master reports a
//     commit permanent only when it is durable locally and its ack policy
//     ([AckPolicy], math in ackPolicyMet) is met, and reports it not
//     permanent after AckTimeoutTicks. A commit is never un-committed by
//     rep; only a later sync with a new master can roll it back.
//   - A client processes a new master's records only after finding the
//     sync point (or after internal init), so it never mixes histories.
//   - Messages of an older generation are dropped. A NEWMASTER or
//     HEARTBEAT of a newer generation makes the site a client of it.
//   - While a site (the master, or a client for its peer) serves an
//     internal init it retains its log from the snapshot's LSN until the
//     client caught up ([Node.RetainLSN]), for at most
//     InitRetainMaxBytes of log written after the snapshot; past that it
//     stops retaining and the client stops with ErrInitAbandoned. A
//     client never starts another init because its catch-up after a
//     master's snapshot found the log gone: init never loops.
//
// docs/protocol.md describes every message.
package rep
