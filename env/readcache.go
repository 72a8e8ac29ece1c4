package env

import (
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"logship/wal/lsn"
)

// readCache is a bbolt read transaction shared by successive Update
// transactions while the data file does not change, sparing each of them a
// bbolt Begin and the bucket lookups (an Update reads bbolt for every
// before-image).
//
// A transaction uses it while holding mu (taken on its first bbolt read,
// released when it ends), so one transaction at a time. Every bbolt
// read-write transaction goes through Env.dbUpdate, which closes the cached
// transaction and keeps caching off until its commit is done: a commit that
// grows the data file remaps it, which waits for every open read
// transaction, so none may stay open without an owner meanwhile. The cached
// snapshot is used only while the published applied LSN is the one it was
// opened at, which keeps the overlay invariant (see overlay).
type readCache struct {
	mu      sync.Mutex
	btx     *bolt.Tx
	data    *bolt.Bucket
	applied lsn.LSN                 // published applied LSN when btx was opened
	buckets map[string]*bolt.Bucket // user buckets looked up in btx (nil: absent)
	writers int                     // bbolt read-write transactions in progress
}

// dropLocked closes the cached transaction. Caller holds mu.
func (c *readCache) dropLocked() {
	if c.btx != nil {
		_ = c.btx.Rollback()
		c.btx, c.data = nil, nil
		clear(c.buckets)
	}
}

// drop closes the cached transaction.
func (c *readCache) drop() {
	c.mu.Lock()
	c.dropLocked()
	c.mu.Unlock()
}

// bucket returns the user bucket name in the cached transaction (nil if it
// does not exist). Caller holds mu and c.btx is open.
func (c *readCache) bucket(name string) *bolt.Bucket {
	if b, ok := c.buckets[name]; ok {
		return b
	}
	var b *bolt.Bucket
	if c.data != nil {
		b = c.data.Bucket(bytesOf(name))
	}
	if c.buckets == nil {
		c.buckets = make(map[string]*bolt.Bucket)
	}
	if len(c.buckets) < 1024 {
		c.buckets[strings.Clone(name)] = b
	}
	return b
}

// dbUpdate runs fn in a bbolt read-write transaction, with the read cache
// closed and off, once no snapshot served in place holds up a remap the
// transaction could need (snaptx.go).
func (e *Env) dbUpdate(fn func(*bolt.Tx) error) error {
	c := &e.rc
	c.mu.Lock()
	c.writers++
	c.dropLocked()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.writers--
		c.mu.Unlock()
	}()
	e.beforeUpdate()
	e.ts.updating.Store(time.Now().UnixNano())
	defer e.ts.updating.Store(0)
	return e.db.Update(func(btx *bolt.Tx) error {
		e.inUpdate(btx)
		return fn(btx)
	})
}

// openRead gives tx its bbolt snapshot: the cached one when it can (tx then
// holds c.mu until it ends), otherwise a private read transaction.
func (tx *Tx) openRead() error {
	c := &tx.e.rc
	c.mu.Lock()
	if c.writers > 0 {
		c.mu.Unlock()
		btx, err := tx.e.db.Begin(false)
		if err != nil {
			return err
		}
		tx.btx, tx.data = btx, btx.Bucket(bucketData)
		return nil
	}
	if c.btx == nil || c.applied != tx.applied {
		c.dropLocked()
		btx, err := tx.e.db.Begin(false)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		c.btx, c.data, c.applied = btx, btx.Bucket(bucketData), tx.applied
	}
	tx.rc, tx.data = c, c.data
	return nil
}
