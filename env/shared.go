package env

import (
	bolt "go.etcd.io/bbolt"

	"logship/wal/lsn"
)

// The shared record.
//
// rep discards a client's own log records only into a rollback file, and
// with rep.Config.MaxRollbackBytes refuses to discard more than a bound:
// an internal init discards the records after the newest one the site
// knows to be in every later master's history (its commit point), since
// only those can be the site's own (rep/discard.go). That record has to
// outlive a restart, or a restarted client that needs an init counts its
// whole log as its own, and with a bound set stops until an operator
// lets it go on. The driver hands it to the environment
// (Replica.KeepShared), and the applier stores it with its next batch
// (keyShared): it may then be a little older than rep's, never wrong,
// because a committed record is never rolled back. A rollback or an
// install that cuts the log below it lowers it in the same bbolt
// transaction, and in memory, so a stale value is never written after.

// packLSN and unpackLSN keep an LSN in one atomic word.
func packLSN(l lsn.LSN) uint64   { return uint64(l.File)<<32 | uint64(l.Offset) }
func unpackLSN(v uint64) lsn.LSN { return lsn.New(uint32(v>>32), uint32(v)) }

// KeepShared hands the environment the newest record of its log known to
// be in every later master's history (rep.Status.Shared), to be stored
// with the applier's next batch and given back by Shared after a restart.
func (r *Replica) KeepShared(at lsn.LSN) { r.e.shared.Store(packLSN(at)) }

// Shared returns the record last handed to KeepShared, or after a
// restart the one stored (rep.Config.Shared); Zero if none.
func (r *Replica) Shared() lsn.LSN { return unpackLSN(r.e.shared.Load()) }

// putShared stores the shared record in the applier's batch, if it moved
// since the last one stored; saved is what the batch stored.
func (e *Env) putShared(mb *bolt.Bucket) (saved lsn.LSN, err error) {
	want := unpackLSN(e.shared.Load())
	if want == e.ap.sharedSaved {
		return want, nil
	}
	return want, putMarker(mb, keyShared, want)
}

// cutShared lowers the shared record, in memory and as stored, to at
// when the log is cut after at (the caller holds ap.mu and has lowered the
// stored one with capShared in the transaction that cut the log).
func (e *Env) cutShared(at lsn.LSN) {
	for {
		v := e.shared.Load()
		if !at.Less(unpackLSN(v)) || e.shared.CompareAndSwap(v, packLSN(at)) {
			break
		}
	}
	e.ap.sharedSaved = lsn.Min(e.ap.sharedSaved, at)
}

// capShared lowers the stored shared record to at, if it is past it,
// and returns the record stored then (Zero if none).
func capShared(mb *bolt.Bucket, at lsn.LSN) (lsn.LSN, error) {
	v := mb.Get(keyShared)
	if len(v) != 8 {
		return lsn.Zero, nil
	}
	if kept := getLSN(v); !at.Less(kept) {
		return kept, nil
	}
	return at, putMarker(mb, keyShared, at)
}
