package sim

import (
	"errors"
	"math/rand/v2"

	"logship/env"
	"logship/rep"
	"logship/wal/lsn"
)

// Storage is one data site's disk as the simulator drives it: the local
// log (read by the core through [rep.LogReader]) and the data applied
// from it. The simulator carries out every [sitecore.Ready] through it
// the way the replication runtime (env/site) does, so a Storage must
// behave like env: local commits are admitted only between Admit and
// Shut, a rollback undoes data and truncates the log, an install
// replaces both, appends are written but durable only after Sync, and a
// crash loses whatever was not synced.
//
// Two implementations exist: memStorage over [rep.MemLog] (fast, and the
// reference for what env must do) and envStorage over a real env in a
// temporary directory with its log on a crashable vfs.MemFS, carried out
// by the very calls the runtime makes (env.Replica.CarryOut, env.Append,
// env.Shut, env.WaitToken).
type Storage interface {
	// Log is the LogReader the core reads the local log through.
	Log() rep.LogReader
	// Carry carries out rep's storage steps of rd and sends its messages
	// with send, in the order of rep's Ready contract (rollback, chunks,
	// install, append, messages, snapshot, releases). It returns the
	// records a rollback removed, and the snapshot taken for
	// rd.TakeSnapshot (nil if none).
	Carry(rd rep.Ready, send func(rep.Message)) (rolledBack []RecID, snap *Snap, err error)
	// Admit lets local commits in, stamped with generation gen; Shut
	// shuts them out and returns the log's last record as it was then
	// (sitecore.Ready.Admit).
	Admit(gen uint64)
	Shut() lsn.LSN
	// Commit appends one local transaction putting every key of w (not
	// yet durable: Sync makes it so). It fails with env.ErrNotWritable
	// while local commits are shut out.
	Commit(w []KV) (Committed, error)
	// Sync makes the log durable and returns the last durable LSN;
	// Durable returns it without syncing.
	Sync() (lsn.LSN, error)
	Durable() lsn.LSN
	// DamageNextInstall makes the next Carry with an Install find its
	// snapshot damaged once received, as env's Install does on a bad
	// checksum: it fails with env.ErrBadSnapshot, having carried out the
	// rollback and chunks before it and nothing after.
	DamageNextInstall()
	// KeepShared keeps rep's Status.Shared across crashes and restarts,
	// as the runtime has env store it (env.Replica.KeepShared); Shared
	// gives back what is kept, for Config.Shared at a restart. A
	// rollback or an install below it lowers it.
	KeepShared(at lsn.LSN)
	Shared() lsn.LSN
	// Distance is the log's bytes from a to b, as env.Env.Distance
	// counts them (a master's promotion rule reads it).
	Distance(a, b lsn.LSN) int64
	// Release drops a snapshot the core refused.
	Release(id uint64)
	// LastGen is the generation of the record at Log().Last(), also when
	// the log is empty after a snapshot install.
	LastGen() uint64
	// Records lists the identities of every record held in the log.
	Records() ([]RecID, error)
	// Members returns the value of the membership key (membersKey) in
	// the latest record of the log that puts it, committed or not, with
	// that record's LSN; or, with none in the log, the one in the data
	// (stamped with an LSN at or after its record's); nil if neither has
	// one. MembersIn returns the value a record puts at it, if any.
	Members() (val []byte, at lsn.LSN, err error)
	MembersIn(r rep.Record) ([]byte, bool)
	// Data returns every key and value of the applied data (once every
	// durable record is applied), sorted by key.
	Data() ([]KV, error)
	// Get reads one key as a read on this site sees it now (on a master,
	// every commit that returned), with the LSN the read is as of.
	Get(key string) (val string, ok bool, at lsn.LSN, err error)
	// GetAt reads one key once the commit tok names is visible here, as a
	// token read does (env.ViewAt with final as the site's finality),
	// without waiting: errNotYet if it is not visible yet. ok is false
	// for storage that keeps no tokens.
	GetAt(tok env.Token, final env.Finality, key string) (val string, ok bool, err error)
	// Fault makes the storage fail from now on as f says (a full disk, an
	// I/O error); ok is false for storage that cannot. Failure is the
	// error the storage failed with, if it has.
	Fault(f StorageFault, r *rand.Rand) (ok bool)
	Failure() error
	// Fail fails the storage with err, as the runtime fails its env when
	// carrying out replication on it failed (env.Env.Fail).
	Fail(err error)
	// Crash simulates a power failure: unsynced log bytes are lost (with
	// torn set, a random prefix of an unsynced append may survive) and
	// the storage is abandoned without a clean close.
	Crash(torn *rand.Rand) error
	// Reopen recovers the storage after a crash (or Close), repaired:
	// faults injected before are gone.
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

// Snap is a snapshot Carry took for rep (Ready.TakeSnapshot).
type Snap struct {
	Info   rep.SnapInfo
	Reader rep.SnapshotReader
}

// Committed is a local commit's record as rep ships it (Perm set), its
// read token (zero on storage without tokens) and the log epoch it was
// appended in.
type Committed struct {
	Rec   rep.Record
	Token env.Token
	Epoch uint64
}

// StorageFault is one kind of storage failure.
type StorageFault int

const (
	// FaultFullDisk: writes to the log fail with ENOSPC.
	FaultFullDisk StorageFault = iota
	// FaultWriteIO: a log write fails with EIO.
	FaultWriteIO
	// FaultSyncIO: a log fsync fails with EIO.
	FaultSyncIO
	// FaultOpen: creating or opening a log file fails (ENOSPC, or EMFILE:
	// no file descriptors left).
	FaultOpen
	numStorageFaults
)

func (f StorageFault) String() string {
	switch f {
	case FaultFullDisk:
		return "full-disk"
	case FaultWriteIO:
		return "write-eio"
	case FaultSyncIO:
		return "fsync-eio"
	case FaultOpen:
		return "open-fails"
	}
	return "fault?"
}

// errNotYet: a token read whose commit is not visible here yet.
var errNotYet = errors.New("sim: the token's commit is not visible here yet")

// RecID is a record's identity: what verify compares.
type RecID struct {
	LSN      lsn.LSN
	Gen      uint64
	Checksum uint32
}

func recID(r rep.Record) RecID { return RecID{r.LSN, r.Gen, r.Checksum} }

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
