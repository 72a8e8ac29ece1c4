package env

// Reads.
//
// A read on a store that admits local commits (on its own, or on a
// replication master) sees
// every commit that returned before it began, as a Berkeley DB or
// PostgreSQL user expects: it reads through the writer's view, the
// overlay of committed-unapplied writes over bbolt (see overlay), under
// the writer mutex, so that it is serialized with the commits; and it
// answers only once what it read is durable in the log, joining the group
// commit like a transaction that wrote nothing, so a read never shows a
// write that a crash of this site then loses.
//
// A replication client's reads (a store shut to local commits: Shut), and
// ViewApplied, read bbolt's applied snapshot
// without the writer mutex: they may trail the log by the applier's
// batching delay, and a client trails its master anyway. Read-your-writes
// there is WaitApplied with the write's token.

import (
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"

	"logship/wal/lsn"
)

// View runs fn in a read-only transaction. On a store that admits local
// commits (on its own, or on a replication master) it sees every commit
// that returned before View was called, and it returns only once every
// record it read is durable in the local log; ReadTx.AppliedLSN then
// names the newest record the read could see. fn runs holding the writer
// mutex, so it must be short and must not call Update, View or anything
// that waits for the environment; for a long scan use ViewApplied. On a
// replication client (Shut) View is ViewApplied: a client's data trails
// its master's; use WaitApplied with a token to read your own writes
// there.
func (e *Env) View(fn func(*ReadTx) error) error {
	if e.Writable() {
		_, err := e.viewLatest(fn)
		return err
	}
	_, err := e.viewApplied(fn)
	return err
}

// ViewApplied runs fn in a read-only transaction over a consistent
// snapshot of the applied data, without the writer mutex. It does not see
// commits the applier has not applied yet (it trails the log by a few
// milliseconds on a busy master): use WaitApplied with an Update's token
// first to read your own writes. fn must not wait for the applier
// (WaitApplied, Checkpoint, ...): a long ViewApplied can hold up the
// applier when the data file grows.
func (e *Env) ViewApplied(fn func(*ReadTx) error) error {
	_, err := e.viewApplied(fn)
	return err
}

func (e *Env) viewApplied(fn func(*ReadTx) error) (lsn.LSN, error) {
	if err := e.enter(); err != nil {
		return lsn.Zero, err
	}
	defer e.exit()
	e.dbMu.RLock()
	defer e.dbMu.RUnlock()
	var at lsn.LSN
	err := e.db.View(func(btx *bolt.Tx) error {
		m, err := readMeta(btx)
		if err != nil {
			return err
		}
		at = m.applied
		rt := &ReadTx{btx: btx, data: btx.Bucket(bucketData), at: m.applied}
		defer func() { rt.closed = true }()
		return fn(rt)
	})
	return at, err
}

// viewLatest reads through the writer's view as a member of the group
// commit (inRun): it returns once the newest record it could see is
// durable.
func (e *Env) viewLatest(fn func(*ReadTx) error) (lsn.LSN, error) {
	if err := e.enter(); err != nil {
		return lsn.Zero, err
	}
	defer e.exit()
	return e.inRun(func() (lsn.LSN, uint64, error) {
		if err := e.lockCaughtUp(); err != nil {
			return lsn.Zero, e.epoch.Load(), err
		}
		defer e.mu.Unlock()
		epoch := e.epoch.Load()
		if err := e.failure(); err != nil {
			return lsn.Zero, epoch, err
		}
		if e.remote {
			if err := e.applyRemote(); err != nil {
				return lsn.Zero, epoch, err
			}
		}
		applied, _, _ := e.appliedPos()
		e.ov.prune(applied) // before the Tx opens its bbolt snapshot
		at := applied
		if !e.ov.empty() {
			at = e.ov.newest()
		}
		if !e.remote {
			// Under the writer mutex, with the client-era backlog
			// applied, every record in the log is applied, in the
			// overlay, or a Mark, which writes nothing: the view
			// reflects the log to its end. Saying so keeps the answer
			// from depending on whether the applier has reached a
			// trailing Mark yet.
			at = lsn.Max(at, e.log.Last())
		}
		tx := &Tx{e: e, applied: applied}
		rt := &ReadTx{tx: tx, at: at}
		defer func() {
			rt.closed = true
			tx.close()
		}()
		return at, epoch, fn(rt)
	})
}

// ReadTx is a read-only transaction, valid only inside the function
// passed to View, ViewApplied or ViewLease. Keys and values returned are
// copies, valid after the transaction.
type ReadTx struct {
	// tx: reading through the writer's view (View on a master); else
	// btx and data: bbolt's applied snapshot.
	tx     *Tx
	btx    *bolt.Tx
	data   *bolt.Bucket
	at     lsn.LSN
	closed bool
}

// AppliedLSN returns the LSN of the last record the read reflects
// (lsn.Zero if none): every commit up to it and none after.
func (rt *ReadTx) AppliedLSN() lsn.LSN { return rt.at }

// Get returns the value of key in bucket, or nil if there is none.
func (rt *ReadTx) Get(bucket string, key []byte) ([]byte, error) {
	if err := rt.check(bucket); err != nil {
		return nil, err
	}
	if rt.tx != nil {
		return rt.tx.Get(bucket, key)
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	b := rt.data.Bucket([]byte(bucket))
	if b == nil {
		return nil, nil
	}
	return clone(b.Get(key)), nil
}

// Scan calls fn for each key of bucket within r, in key order. An error
// from fn stops the scan and is returned.
func (rt *ReadTx) Scan(bucket string, r Range, fn func(key, value []byte) error) error {
	if err := rt.check(bucket); err != nil {
		return err
	}
	if rt.tx != nil {
		return rt.tx.Scan(bucket, r, fn)
	}
	return scan(r, "", nil, nil, rt.data.Bucket([]byte(bucket)), func(k, v []byte) error {
		if rt.closed {
			return ErrTxClosed
		}
		return fn(k, v)
	})
}

// Buckets calls fn with the name of every bucket, in order.
func (rt *ReadTx) Buckets(fn func(name string) error) error {
	if rt.closed {
		return ErrTxClosed
	}
	if rt.tx == nil {
		return rt.data.ForEachBucket(func(k []byte) error { return fn(string(k)) })
	}
	return rt.tx.buckets(fn)
}

func (rt *ReadTx) check(bucket string) error {
	if rt.closed {
		return ErrTxClosed
	}
	return checkBucket(bucket)
}

// buckets calls fn with every bucket name in bbolt or in the overlay, in
// order: a bucket a commit created is in the overlay until it is applied.
func (tx *Tx) buckets(fn func(name string) error) error {
	names := map[string]bool{}
	data, err := tx.snapshot()
	if err != nil {
		return err
	}
	if data != nil {
		if err := data.ForEachBucket(func(k []byte) error { names[string(k)] = true; return nil }); err != nil {
			return err
		}
	}
	for n := tx.e.ov.s.seek(""); n != nil; n = n.next[0] {
		if b, _ := splitCkey(n.key); !n.e.del {
			names[b] = true
		}
	}
	// bbolt orders buckets bytewise, as string comparison does.
	for _, b := range slices.Sorted(maps.Keys(names)) {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}
