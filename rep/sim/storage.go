package sim

import (
	"math/rand/v2"

	"logship/rep"
	"logship/wal/lsn"
)

// Storage is one site's disk as the simulator drives it: the local log
// (read by rep through [rep.LogReader]) and the data applied from it. The
// simulator carries out every [rep.Ready] through it, the way env's driver
// does, so a Storage must behave like env: a rollback undoes data and
// truncates the log, an install replaces both, appends are written but
// durable only after Sync, and a crash loses whatever was not synced.
//
// Two implementations exist: memStorage over [rep.MemLog] (fast, and the
// reference for what env must do) and envStorage over a real env in a
// temporary directory with its log on a crashable vfs.MemFS.
type Storage interface {
	// Log is the LogReader rep reads the local log through.
	Log() rep.LogReader
	// Carry out the storage steps of rd, in the order of the Ready
	// contract: Rollback, Chunks, Install, Append. It returns the
	// records a rollback removed (the rollback file's contents).
	Carry(rd rep.Ready) (rolledBack []RecID, err error)
	// Commit appends one committed transaction on the master (not yet
	// durable) putting every key of w, and returns its record with Perm
	// set, for Node.Appended.
	Commit(gen uint64, w []KV) (rep.Record, error)
	// Sync makes the log durable and returns the last durable LSN.
	Sync() (lsn.LSN, error)
	// Snapshot takes a consistent snapshot (Ready.TakeSnapshot).
	Snapshot(id uint64) (rep.SnapInfo, rep.SnapshotReader, error)
	// Release drops the snapshot with that id (one of Ready.ReleaseSnapshots).
	Release(id uint64)
	// LastGen is the generation of the record at Log().Last(), also when
	// the log is empty after a snapshot install (elections compare it).
	LastGen() uint64
	// Records lists the identities of every record held in the log.
	Records() ([]RecID, error)
	// Data returns every key and value of the applied data (once every
	// durable record is applied), sorted by key.
	Data() ([]KV, error)
	// Crash simulates a power failure: unsynced log bytes are lost (with
	// torn set, a random prefix of an unsynced append may survive) and
	// the storage is abandoned without a clean close.
	Crash(torn *rand.Rand) error
	// Reopen recovers the storage after a crash (or Close).
	Reopen() error
	// Archive removes old log (a checkpoint, then the log files it made
	// unnecessary) and reports whether it removed any. The caller only
	// archives when rep retains nothing (Node.RetainLSN is zero).
	Archive(r *rand.Rand) (bool, error)
	// Describe adds storage details to the trace ("" or " key=value...").
	Describe() string
	// Close releases everything; the storage cannot be used afterwards.
	Close() error
}

// RecID is a record's identity: what verify compares.
type RecID struct {
	LSN      lsn.LSN
	Gen      uint64
	Checksum uint32
}

// KV is one key and its value.
type KV struct {
	Key, Value string
}

// StorageKind names a Storage implementation.
type StorageKind string

const (
	// StorageMem is rep.MemLog-backed storage.
	StorageMem StorageKind = "mem"
	// StorageEnv is real env storage: log on a vfs.MemFS, bbolt on disk.
	StorageEnv StorageKind = "env"
)
