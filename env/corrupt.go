package env

// A damaged data file.
//
// bbolt trusts its pages: a page of garbage makes it panic (an assertion,
// an index out of range) or fault on a wild pointer into the memory map.
// Left alone that takes the whole process down, at every start. Every
// bbolt call of env that reads pages runs under catchCorrupt instead: a
// panic raised inside bbolt becomes an error wrapping ErrCorrupt that
// names the data file, and the environment fails (a storage failure, like
// a full disk: replication halts, see failed.go). A panic from anywhere
// else (a bug, a panic in a caller's function) goes on unchanged.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// dataPath is the path of the data file.
func (e *Env) dataPath() string { return filepath.Join(e.dir, dataName) }

// damagedError is a panic of bbolt's, caught: the data file is damaged.
type damagedError struct {
	path  string
	cause any
}

func (d *damagedError) Error() string {
	return fmt.Sprintf("env: corrupt data: data file %s is damaged: %v", d.path, d.cause)
}

// Is makes it match ErrCorrupt.
func (d *damagedError) Is(target error) bool { return target == ErrCorrupt }

// catchCorrupt, deferred, turns a panic raised inside bbolt into *errp
// (a *damagedError, matching ErrCorrupt, naming path) and re-raises any
// other.
func catchCorrupt(path string, errp *error) {
	r := recover()
	if r == nil {
		return
	}
	if !panickedInBolt() {
		panic(r)
	}
	*errp = &damagedError{path: path, cause: r}
}

// panickedInBolt reports whether the panic being recovered was raised in
// bbolt's code: its frames are still on the stack while the deferred
// call runs.
func panickedInBolt() bool {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "go.etcd.io/bbolt.") {
			return true
		}
		if !more {
			return false
		}
	}
}

// guardBolt runs f, a call into bbolt, turning a panic of bbolt's into an
// error that fails the environment; a fault on a wild pointer into the
// memory map is turned into a panic first (debug.SetPanicOnFault).
func (e *Env) guardBolt(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		var d *damagedError
		if errors.As(err, &d) {
			err = e.fail(err)
		}
	}()
	defer catchCorrupt(e.dataPath(), &err)
	return f()
}

// boltUpdate runs fn in a bbolt read-write transaction (dbUpdate) with
// the data file pointer held, guarded against a damaged file.
func (e *Env) boltUpdate(fn func(*bolt.Tx) error) error {
	e.dbMu.RLock()
	defer e.dbMu.RUnlock()
	return e.guardBolt(func() error { return e.dbUpdate(fn) })
}

// boltView runs fn in a bbolt read transaction with the data file
// pointer held, guarded against a damaged file.
func (e *Env) boltView(fn func(*bolt.Tx) error) error {
	e.dbMu.RLock()
	defer e.dbMu.RUnlock()
	return e.guardBolt(func() error { return e.db.View(fn) })
}

// checkDataFile reads every page of the data file at path that bbolt
// would trust when opening it (every bucket, every key), in a read-only
// handle and a goroutine of its own, so that a damaged page is an error
// wrapping ErrCorrupt that names the file instead of a panic: bbolt
// rebuilds its free list at open (NoFreelistSync) by walking the same
// pages on a goroutine no caller can recover. A missing file is fine.
func checkDataFile(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("env: open %s: %w", path, err)
	}
	defer db.Close()
	done := make(chan error, 1)
	go func() {
		var err error
		defer func() { done <- err }()
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer catchCorrupt(path, &err)
		err = db.View(walkData)
	}()
	return <-done
}

// walkData visits every bucket and key of a data file.
func walkData(btx *bolt.Tx) error {
	return btx.ForEach(func(name []byte, b *bolt.Bucket) error { return walkBucket(b) })
}

func walkBucket(b *bolt.Bucket) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				if err := walkBucket(nb); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
