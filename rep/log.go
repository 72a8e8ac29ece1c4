package rep

import "logship/wal/lsn"

// Record is one log record as rep sees it: its position, the identity
// that verify compares (master generation and checksum) and the opaque
// payload that the driver writes at exactly that LSN on a client.
type Record struct {
	LSN lsn.LSN
	// Gen is the master generation that wrote the record. env carries it
	// in its payload; the LogReader adapter extracts it, rep never parses
	// payloads.
	Gen uint64
	// Checksum identifies the record's content: CRC-32C over Gen and
	// Payload ([Checksum]), independent of how a log frames it, so a
	// record has the same identity on every site. (LSN, Gen, Checksum) is
	// the record's identity during verify.
	Checksum uint32
	Payload  []byte
	// Perm marks a commit record on the master: [Node.Appended] tracks its
	// permanence under the ack policy and reports it in [Ready.Commits].
	// It is not shipped.
	Perm bool
}

// size is the number of bytes a record counts for in bulk and throttle
// limits.
func (r Record) size() int { return len(r.Payload) + 24 }

// LogReader is the narrow view of the local write-ahead log that rep
// needs. The production implementation is a thin adapter over wal; tests
// use [MemLog]. Every method must be cheap and must not block on the
// network; rep calls them from inside Step/Tick.
//
// Errors: ErrNotFound for a position that holds no record, ErrLogRemoved
// for a record that was removed by log archival, an error wrapping
// ErrLogDamaged for a record that is there but damaged (a master serves
// it like a removed one: the client needs internal init). Any other error
// is treated like ErrNotFound (the site cannot serve) and surfaced in
// Stats.
type LogReader interface {
	// Read returns the record at exactly at.
	Read(at lsn.LSN) (Record, error)
	// Next returns the first record after after; after == lsn.Zero asks
	// for the first record the log ever held (ErrLogRemoved if it has been
	// archived). ErrNotFound past the end.
	Next(after lsn.LSN) (Record, error)
	// Prev returns the LSN of the record before at, lsn.Zero if at is
	// the first record of the log.
	Prev(at lsn.LSN) (lsn.LSN, error)
	// First returns the LSN of the oldest record still in the log
	// (lsn.Zero if the log is empty).
	First() lsn.LSN
	// Last returns the LSN of the newest record (lsn.Zero if empty).
	Last() lsn.LSN
}
