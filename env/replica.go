package env

// Replica: the synchronous storage layer replication runs on.
//
// API (stable; the env driver and rep/sim's simulator both code against it):
//
//	r := e.Replica()                  // one per Env; not safe for concurrent use
//	r.SetSite(id)                     // names the site in rollback file headers
//
//	// rep.LogReader over the env's log: pass r as rep.Config.Log.
//	r.Read(at) r.Next(after) r.Prev(at) r.First() r.Last()
//
//	// Carrying out a rep.Ready, in the contract order (rep/ready.go):
//	r.Rollback(ctx, *rd.Rollback)     // 1. rollback file written + fsynced, then Env.RollbackTo
//	r.WriteChunk(c) for rd.Chunks     // 2. into the incoming snapshot file
//	r.Install(*rd.Install)            // 3. rollback file of the records after Discard, then Env.InstallSnapshot
//	r.Append(rd.Append)               // 4. wal AppendAt at the master's LSNs
//	... send rd.Messages ...          // 5. the caller's transport
//	r.ReleaseSnapshot(id)             // 6. for rd.ReleaseSnapshots; and for
//	                                  //    rd.TakeSnapshot: TakeSnapshot, or
//	                                  //    PrepareSnapshot / Take / Adopt off the loop,
//	                                  //    then n.SnapshotTaken(info, rdr)
//	... rd.Commits, rd.Events, rd.Status ...   // 7, 8. the caller's
//	n.Advance(rd)
//	at, _ := r.Sync(); n.Persisted(at)        // fsync; the durable LSN
//
// CarryOut does steps 1-5 and the releases in one call for a caller
// that sends messages through a function.
//
// Files in the environment's directory: rollback/ (rollback files, see
// rollbackfile.go), snap-in.<id> and snap-in.<id>.info (a snapshot being
// received, and how much of it is durable: kept across a restart so the
// transfer resumes, replica_snap.go), snap-out.<id> (a snapshot being
// served; removed at start).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"logship/rep"
	"logship/wal"
	"logship/wal/lsn"
)

// Replica carries out replication's storage effects on an environment and
// reads its log for the protocol. It implements [rep.LogReader]. It is not
// safe for concurrent use: one goroutine (the driver, or the simulator)
// owns it. Obtain it with [Env.Replica].
type Replica struct {
	e    *Env
	site uint64

	// base is the record just before the log's first one when the log
	// was reset by a snapshot install (the snapshot's LSN); Zero if
	// unknown.
	base lsn.LSN

	// A reader cached for sequential Next calls (serving a catch-up).
	rd      *wal.Reader
	rdAfter lsn.LSN
	// damagedAt: the damaged record last reported (damaged), so a client
	// asking again does not repeat the error in the log.
	damagedAt lsn.LSN

	claimed atomic.Bool // a replication runtime drives it (Claim)

	in     *incoming          // the snapshot being received (replica_snap.go)
	served map[uint64]*txSnap // snapshots taken for serving, by ID
	lastID uint64
}

var _ rep.LogReader = (*Replica)(nil)

// Replica returns the environment's replication storage layer. Every call
// returns the same Replica.
func (e *Env) Replica() *Replica {
	e.replicaOnce.Do(func() {
		e.replica = &Replica{e: e, served: map[uint64]*txSnap{}}
		e.replica.in = e.replica.findPartial()
	})
	return e.replica
}

// SetSite names this site (written in rollback file headers).
func (r *Replica) SetSite(id uint64) { r.site = id }

// Claim reserves the Replica for one replication runtime: a second one
// on the same environment would interleave its log writes with the
// first's. Release gives it back.
func (r *Replica) Claim() error {
	if !r.claimed.CompareAndSwap(false, true) {
		return errors.New("env: replication already runs on this environment")
	}
	return nil
}

// Release gives back what Claim reserved.
func (r *Replica) Release() { r.claimed.Store(false) }

// Env returns the environment.
func (r *Replica) Env() *Env { return r.e }

// Generation returns the generation the environment stamps on new commit
// records: the one last set, or that of the last record recovered.
func (e *Env) Generation() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gen
}

// recordGen reads the generation from a record payload's header without
// decoding its ops.
func recordGen(p []byte) (uint64, error) {
	if len(p) < 3 || p[0] != recordVersion {
		return 0, fmt.Errorf("%w: record header", errRecord)
	}
	g, n := binary.Uvarint(p[2:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: record generation", errRecord)
	}
	return g, nil
}

// identity is a record's identity checksum for replication: CRC-32C over
// its generation and payload (rep.Checksum), so that it does not depend on
// how the log frames the record. The wal's own CRC also covers the back
// link to the previous record, which differs for the first record after a
// snapshot install (nothing precedes it in the reset log), and the same
// record must verify equal on the master and on every client.
func identity(gen uint64, payload []byte) uint32 { return rep.Checksum(gen, payload) }

func toRepRecord(w wal.Record) (rep.Record, error) {
	g, err := recordGen(w.Payload)
	if err != nil {
		return rep.Record{}, fmt.Errorf("env: record %s: %w", w.LSN, err)
	}
	return rep.Record{LSN: w.LSN, Gen: g, Checksum: identity(g, w.Payload), Payload: w.Payload}, nil
}

// mapLogErr turns a wal lookup error for `at` into rep's vocabulary.
func (r *Replica) mapLogErr(at lsn.LSN, err error) error {
	switch {
	case errors.Is(err, wal.ErrNotFound):
		if first := r.e.log.First(); !at.IsZero() && (!first.IsZero() && at.Less(first) || first.IsZero() && !r.Last().Less(at)) {
			return rep.ErrLogRemoved
		}
		return rep.ErrNotFound
	case errors.Is(err, wal.ErrNotRecordStart):
		return rep.ErrNotFound
	case errors.Is(err, wal.ErrCorrupt):
		return r.damaged(err)
	}
	return err
}

// damaged reports a damaged log record (ErrLogDamaged), naming it and its
// file in the site's log, once per record: the master keeps serving
// everything else and answers requests for that range as if it were
// archived, so the client is rebuilt by internal init.
func (r *Replica) damaged(err error) error {
	var ce *wal.CorruptError
	at := lsn.Zero
	if errors.As(err, &ce) {
		at = ce.LSN
	}
	file := r.e.log.SegmentPath(at.File)
	if r.damagedAt != at {
		r.damagedAt = at
		r.e.logger.Error("env: a log record is damaged; it cannot be served, so a client that needs it is rebuilt by internal init",
			"lsn", at.String(), "file", file, "err", err)
	}
	return fmt.Errorf("%w: record %s in %s: %w", rep.ErrLogDamaged, at, file, err)
}

// Read implements rep.LogReader.
func (r *Replica) Read(at lsn.LSN) (rep.Record, error) {
	w, err := r.e.log.Read(at)
	if err != nil {
		return rep.Record{}, r.mapLogErr(at, err)
	}
	return toRepRecord(w)
}

// firstLSN is where the first record a log ever holds lives.
var firstLSN = lsn.New(1, wal.FileHeaderSize)

// Next implements rep.LogReader.
func (r *Replica) Next(after lsn.LSN) (rep.Record, error) {
	log := r.e.log
	first := log.First()
	switch {
	case after.IsZero():
		if first == firstLSN {
			return r.Read(first)
		}
		if first.IsZero() && r.Last().IsZero() {
			return rep.Record{}, rep.ErrNotFound
		}
		return rep.Record{}, rep.ErrLogRemoved
	case first.IsZero():
		if after.Less(r.Last()) {
			return rep.Record{}, rep.ErrLogRemoved
		}
		return rep.Record{}, rep.ErrNotFound
	case after.Less(first):
		if after == r.base {
			return r.Read(first)
		}
		if p, err := log.Prev(first); err == nil && p == after {
			return r.Read(first)
		}
		return rep.Record{}, rep.ErrLogRemoved
	}
	if r.rd == nil || r.rdAfter != after {
		r.dropReader()
		rd, err := log.NewReader(after)
		if err != nil {
			return rep.Record{}, r.mapLogErr(after, err)
		}
		w, err := rd.Next()
		if err != nil || w.LSN != after {
			_ = rd.Close()
			if err == nil || errors.Is(err, io.EOF) {
				return rep.Record{}, rep.ErrNotFound
			}
			return rep.Record{}, r.mapLogErr(after, err)
		}
		r.rd, r.rdAfter = rd, after
	}
	w, err := r.rd.Next()
	switch {
	case err == nil:
		r.rdAfter = w.LSN
		return toRepRecord(w)
	case errors.Is(err, io.EOF):
		return rep.Record{}, rep.ErrNotFound // a later Next sees later appends
	}
	// A damaged record (or a failed read): it is not served, and the
	// next call starts over rather than read on past it.
	r.dropReader()
	return rep.Record{}, r.mapLogErr(after, err)
}

func (r *Replica) dropReader() {
	if r.rd != nil {
		_ = r.rd.Close()
		r.rd = nil
	}
}

// Prev implements rep.LogReader.
func (r *Replica) Prev(at lsn.LSN) (lsn.LSN, error) {
	p, err := r.e.log.Prev(at)
	if err != nil {
		return lsn.Zero, r.mapLogErr(at, err)
	}
	return p, nil
}

// First implements rep.LogReader.
func (r *Replica) First() lsn.LSN { return r.e.log.First() }

// Last implements rep.LogReader. With an empty log it is the last record
// the data reflects: after a snapshot install, the snapshot's LSN.
func (r *Replica) Last() lsn.LSN {
	if l := r.e.log.Last(); !l.IsZero() {
		return l
	}
	applied, _, _ := r.e.appliedPos()
	return applied
}

// Append writes records received from the master at their LSNs (not
// fsynced: call Sync).
func (r *Replica) Append(recs []rep.Record) error {
	if len(recs) == 0 {
		return nil
	}
	e := r.e
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.remote = true
	for _, rec := range recs {
		if err := e.log.AppendAt(rec.LSN, rec.Payload); err != nil {
			if errors.Is(err, wal.ErrBadPosition) {
				return fmt.Errorf("env: replica append at %s: %w", rec.LSN, err)
			}
			return e.fail(fmt.Errorf("env: replica append at %s: %w", rec.LSN, err))
		}
	}
	return nil
}

// Sync makes every record in the log durable and returns the last durable
// record's LSN, for rep's Node.Persisted.
func (r *Replica) Sync() (lsn.LSN, error) {
	e := r.e
	if err := e.enter(); err != nil {
		return lsn.Zero, err
	}
	defer e.exit()
	last := e.log.Last()
	if last.IsZero() {
		return r.Last(), nil
	}
	if err := e.syncAll(); err != nil {
		return lsn.Zero, err
	}
	return last, nil
}

// Durable returns the newest record known durable without syncing.
func (r *Replica) Durable() lsn.LSN {
	last := r.e.log.Last()
	if last.IsZero() {
		return r.Last()
	}
	if last.Less(r.e.log.DurableEnd()) {
		return last
	}
	return lsn.Zero
}

// Rollback carries out Ready.Rollback: it writes the records after rb.To,
// with their LSNs and generations, to a new rollback file in the
// environment's rollback/ directory and fsyncs it, then undoes them
// (Env.RollbackTo). It returns the number undone and the file's path
// ("" when nothing followed rb.To).
func (r *Replica) Rollback(ctx context.Context, rb rep.Rollback) (int, string, error) {
	r.dropReader()
	e := r.e
	for attempt := 0; ; attempt++ {
		last := e.log.Last()
		if !rb.To.Less(last) {
			return 0, "", nil
		}
		var recs []RollbackRecord
		for cur := last; rb.To.Less(cur); {
			w, err := e.log.Read(cur)
			if err != nil {
				return 0, "", fmt.Errorf("env: rollback to %s: read %s: %w", rb.To, cur, err)
			}
			g, _ := recordGen(w.Payload)
			recs = append(recs, RollbackRecord{LSN: w.LSN, Gen: g, Checksum: w.Checksum, Payload: w.Payload})
			if cur, err = e.log.Prev(cur); err != nil {
				return 0, "", fmt.Errorf("env: rollback to %s: previous of %s: %w", rb.To, w.LSN, err)
			}
		}
		for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
			recs[i], recs[j] = recs[j], recs[i]
		}
		h := RollbackHeader{Site: r.site, Time: time.Now(), To: rb.To, From: last, Count: uint32(len(recs))}
		path, err := writeRollbackFile(e.dir, h, recs)
		if err != nil {
			return 0, "", err
		}
		errMoved := errors.New("log grew during rollback")
		n, err := e.rollbackTo(ctx, rb.To, func(w wal.Record) error {
			if last.Less(w.LSN) {
				return errMoved
			}
			return nil
		})
		if errors.Is(err, errMoved) && attempt < 3 {
			_ = os.Remove(path)
			continue
		}
		if err != nil {
			return 0, path, err
		}
		e.logger.Info("env: replication rollback", "to", rb.To, "from", last, "records", n, "file", path)
		return n, path, nil
	}
}

// Install carries out Ready.Install: the log's records after
// in.Discard are written to a rollback file (fsynced), then the received
// snapshot replaces the data and the log continues after in.Snap.LSN.
func (r *Replica) Install(in rep.Install) error {
	r.dropReader()
	h, err := r.received(in.Snap)
	if err != nil {
		r.dropIncoming()
		return err
	}
	path, kept, err := r.keepDiscarded(in.Discard)
	if err != nil {
		return err
	}
	if path != "" {
		r.e.logger.Warn("env: internal init discards this site's own log records; they are kept in a rollback file",
			"after", in.Discard, "records", kept, "file", path)
	}
	defer r.dropIncoming()
	if err := r.e.installFile(r.snapPath("snap-in", in.Snap.ID), h); err != nil {
		return err
	}
	r.base = in.Snap.LSN
	return nil
}

// CarryOut carries out steps 1-5 of rd in the contract order, sending
// each message with send, and deletes the snapshots rd releases. Taking
// a snapshot for rd.TakeSnapshot is the caller's (step 6): TakeSnapshot
// at once, or PrepareSnapshot and SnapshotJob.Take off the caller's
// loop, since taking one on a large store takes long. Commits, Events
// and Status (steps 7-8) are left to the caller, who reads them from rd,
// as is calling Advance. It does not sync: call Sync and Persisted
// afterwards when rd.Append was not empty. An error leaves the rest of
// rd not carried out.
func (r *Replica) CarryOut(ctx context.Context, rd rep.Ready, send func(rep.Message)) error {
	if rd.Rollback != nil {
		if _, _, err := r.Rollback(ctx, *rd.Rollback); err != nil {
			return err
		}
	}
	for _, c := range rd.Chunks {
		if err := r.WriteChunk(c); err != nil {
			return err
		}
	}
	if rd.Install != nil {
		if err := r.Install(*rd.Install); err != nil {
			return err
		}
	}
	if err := r.Append(rd.Append); err != nil {
		return err
	}
	for _, m := range rd.Messages {
		send(m)
	}
	for _, id := range rd.ReleaseSnapshots {
		_ = r.ReleaseSnapshot(id)
	}
	return nil
}

// Base returns, while the log is empty, the last record the data
// reflects (after a snapshot install: the snapshot's last record, whose
// file the log does not hold) and its generation; Zero otherwise, when
// every record Last names can be read.
func (r *Replica) Base() (lsn.LSN, uint64) {
	if !r.e.log.Last().IsZero() {
		return lsn.Zero, 0
	}
	r.e.amu.Lock()
	defer r.e.amu.Unlock()
	return r.e.applied, r.e.appliedGen
}
