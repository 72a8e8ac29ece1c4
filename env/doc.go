// Package env is logship's embedded store: a transactional key/value store
// whose commit point is a write-ahead log ([logship/wal]) and whose data
// lives in a bbolt file applied from that log. Replication plugs into the
// same pipeline: a client appends its master's records to its log and the
// same applier applies them.
//
// # What an environment owns
//
// A directory holding log/ (the wal's segment files) and data.db (bbolt).
// In data.db, the top-level bucket "data" holds one nested bucket per user
// bucket; the top-level bucket "meta" holds the environment's own state:
// the last record applied and the position after it, that record's
// generation, the checkpoint, and the rollback and install markers. User
// names never reach "meta".
//
// # The commit pipeline
//
// [Env.Update] takes the writer mutex and runs the caller's function. Its
// reads go through three layers: the transaction's own writes, then the
// overlay (writes committed but not yet applied), then a bbolt read
// transaction. When the function returns nil, Update builds the record
// (each write with its before-image, read through the same layers),
// appends it to the log under the writer mutex (so log order is the
// serialization order), adds its writes to the overlay, releases the mutex
// and waits, outside it, for the record to be durable. Concurrent
// committers share fsyncs (group commit): the writers queued for the
// writer mutex form a run, and the last of the run syncs the log once for
// all of them while the others wait. The commit is then acknowledged with
// a [Token] naming the record's LSN.
//
// One applier goroutine reads durable records from the log (never from
// memory: records may come from elsewhere) and applies them to bbolt in LSN
// order, in batches: one bbolt transaction per batch, which also stores
// the applied position. It batches until [Config.ApplyDelay] passes or a
// batch is full, spaces its batches so that bbolt's commits (and their
// fsyncs, which compete with the log's) take a small share of the time,
// and applies at once when someone waits
// ([Env.WaitApplied], [Env.Checkpoint], [Env.Snapshot], [Env.RollbackTo]).
// Nothing reaches bbolt before its record is durable. On a delayed
// replica ([Config.MinApplyDelay]) a received record also waits until its
// commit time plus the delay, on a timer (delay.go). [Env.View] reads a
// bbolt snapshot: the applied data.
//
// # The overlay invariant
//
// A transaction never misses a committed value. The overlay holds, per
// key, the latest committed-but-unapplied write and its LSN. It is changed
// only under the writer mutex. Entries at or before the applied LSN are
// pruned only after the bbolt commit that applied them, and only under the
// writer mutex (by the applier when it can take it, otherwise by the next
// transaction before it opens its bbolt snapshot). So a transaction's bbolt
// snapshot always reflects at least what was pruned, and the overlay holds
// everything after. Memory stays bounded: an Update waits while more than
// [Config.MaxUnappliedBytes] of the log awaits the applier.
//
// # Record format
//
// A record's payload (the wal frames it with its own length and CRC-32C):
//
//	+---------+------+----------------+-----------------+---------------+
//	| version | kind | gen (uvarint)  | time (8 bytes,  | n ops         |
//	| 1 byte  | 1    |                | LE, unix nanos) | (uvarint)     |
//	+---------+------+----------------+-----------------+---------------+
//	then n ops:
//	+----+--------+--------+---------------+--------+--------------------+
//	| op | bucket | key    | value         | before | old value          |
//	| 1  | (len+  | (len+  | (len+bytes;   | 1 byte | (len+bytes; when   |
//	|    | bytes) | bytes) | put only)     | 0 / 1  | before == 1)       |
//	+----+--------+--------+---------------+--------+--------------------+
//
// Lengths are uvarints. version is 1. kind 1 is a committed transaction
// (2 is reserved for a checkpoint record, higher kinds for replication). op
// 1 is put, 2 is delete. before says whether the key existed before the
// write; if so its old value follows, so the record can be undone. gen is
// the generation of the master that wrote the record (0 for a standalone
// environment); time is the commit time, for replication lag. The decoder
// rejects any malformed payload with an error wrapping [ErrCorrupt].
//
// # Recovery
//
// [Open] opens the log (which cuts a torn tail), opens bbolt, finishes an
// interrupted rollback or snapshot install (see below), and replays every
// record after the one bbolt last applied. It returns once the replay is
// done.
//
// # Rollback
//
// [Env.RollbackTo] undoes the transactions after a given record: with
// Updates blocked and every durable record applied, it walks the log back
// from its last record (each record names its predecessor) applying
// before-images, newest first, in one bbolt transaction that also sets the
// applied position to the target and a "truncate the log after it" marker.
// Then it truncates the log and clears the marker; Open finishes the
// truncation if a crash came first.
//
// # Checkpoints and log removal
//
// [Env.Checkpoint] lets the applier catch up (bbolt fsyncs each commit),
// records the checkpoint and reports the log files recovery no longer
// needs; [Env.RemoveLogs] (or [Config.AutoRemoveLogs]) removes them.
// With [Config.CheckpointInterval] the environment checkpoints by itself.
//
// # Snapshots
//
// [Env.Snapshot] streams a consistent copy of the data file:
//
//	+------------+---------+----------+-----------+-----------+--------+--------+
//	| "LSHPSNAP" | version | reserved | applied   | end       | gen    | length |
//	| 8 bytes    | u32     | u32      | LSN (8)   | LSN (8)   | u64    | u64    |
//	+------------+---------+----------+-----------+-----------+--------+--------+
//	then `length` bytes of the bbolt file, then a CRC-32C (u32) of all that
//	precedes it. Integers are big-endian; an LSN is its file then its
//	offset, a u32 each. applied is the last record the copy reflects, end
//	the position just after it, gen that record's generation.
//
// [Env.InstallSnapshot] writes it to data.db.tmp, checks it, fsyncs it,
// sets an "install pending: reset the log to end" marker in it, renames it
// over data.db and resets the log so the next record lands just after the
// snapshot's; Open redoes the reset if a crash came first.
package env
