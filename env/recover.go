package env

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"logship/wal"
)

// File names inside an environment's directory.
const (
	logDirName  = "log"         // the wal's directory
	dataName    = "data.db"     // the bbolt data file
	dataTmpName = "data.db.tmp" // a snapshot being installed
)

// testHooks let tests stop the environment at chosen points.
type testHooks struct {
	beforeApply         func()       // the applier, before each batch
	afterRollbackCommit func() error // RollbackTo, between its bbolt commit and the log truncation
	afterInstallSwap    func() error // InstallSnapshot, between the data file swap and the log reset
	mmapSize            int          // bbolt's InitialMmapSize, if not 0
}

// Open opens the environment in dir, creating it if needed, and recovers
// it: the log cuts a torn tail, an interrupted RollbackTo or
// InstallSnapshot is finished, and every durable record after the one the
// data file last applied is replayed. Open returns once the replay is done,
// so View sees every commit that was acknowledged before a crash.
func Open(dir string, cfg Config) (*Env, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("env: %w", err)
	}
	// A snapshot whose install was cut short before its rename.
	if err := os.Remove(filepath.Join(dir, dataTmpName)); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("env: %w", err)
	}
	hist := new(fsyncHist)
	var e *Env // the log's BeforeSync hook needs it; set below
	log, err := wal.Open(filepath.Join(dir, logDirName), wal.Options{
		FS:          cfg.FS,
		SegmentSize: cfg.LogFileSize,
		Logger:      cfg.Logger,
		OnSync:      hist.observe,
		BeforeSync:  func() { e.syncStarting() },
	})
	if err != nil {
		return nil, fmt.Errorf("env: open log: %w", err)
	}
	db, err := openBolt(filepath.Join(dir, dataName), cfg.mmapSize())
	if err != nil {
		_ = log.Close()
		return nil, err
	}
	e = &Env{
		dir:       dir,
		cfg:       cfg,
		logger:    cfg.Logger,
		log:       log,
		db:        db,
		ov:        newOverlay(),
		fsyncs:    hist,
		appliedCh: make(chan struct{}),
		syncCh:    make(chan struct{}),
		kick:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		closing:   make(chan struct{}),
		writable:  true,
	}
	e.delayOnOpen()
	e.noteOpened(filepath.Join(dir, dataName))
	if err := e.recover(); err != nil {
		_ = db.Close()
		_ = log.Close()
		return nil, err
	}
	go e.runApplier()
	if cfg.CheckpointInterval > 0 {
		e.every(cfg.CheckpointInterval, "checkpoint", func(ctx context.Context) error {
			_, err := e.Checkpoint(ctx)
			return err
		})
	}
	if cfg.VerifyInterval > 0 {
		e.every(cfg.VerifyInterval, "data verification", func(ctx context.Context) error {
			c, err := e.VerifyData(ctx)
			if err == nil {
				e.logger.Info("env: data verified", "applied", c.AppliedLSN.String(), "keys", c.Keys, "digest", fmt.Sprintf("%016x", c.Digest))
			}
			return err
		})
	}
	// Replay what the data file lacks (and is due: MinApplyDelay) before
	// returning.
	if err := e.waitDue(context.Background(), log.Last()); err != nil {
		_ = e.Close()
		return nil, err
	}
	if cfg.VerifyOnOpen {
		if _, err := e.VerifyData(context.Background()); err != nil {
			_ = e.Close()
			return nil, err
		}
	}
	return e, nil
}

// defaultMmapSize is bbolt's initial memory map: large, so that a growing
// data file rarely needs a remap, which waits for every read transaction.
const defaultMmapSize = 256 << 20

func (c Config) mmapSize() int {
	if c.hooks != nil && c.hooks.mmapSize != 0 {
		return c.hooks.mmapSize
	}
	return defaultMmapSize
}

func openBolt(path string, mmapSize int) (db *bolt.DB, err error) {
	if err := checkDataFile(path); err != nil {
		return nil, err
	}
	defer catchCorrupt(path, &err)
	db, err = bolt.Open(path, 0o644, &bolt.Options{
		Timeout:         5 * time.Second, // another process holds it: fail, don't hang
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: mmapSize,
	})
	if err != nil {
		return nil, fmt.Errorf("env: open %s: %w", path, err)
	}
	if err := db.Update(initBuckets); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("env: init %s: %w", path, err)
	}
	return db, nil
}

// recover finishes an interrupted rollback or install and positions the
// applier after the last record the data file applied.
func (e *Env) recover() error {
	var m metaState
	err := e.db.View(func(tx *bolt.Tx) (err error) {
		m, err = readMeta(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("env: read meta: %w", err)
	}
	if m.hasInstall {
		// InstallSnapshot replaced the data file but may not have reset
		// the log: redo it (idempotent: the log is empty at that point).
		e.logger.Info("env: finishing snapshot install", "next", m.install)
		if err := e.log.Reset(m.install); err != nil {
			return fmt.Errorf("env: finish install: reset log to %s: %w", m.install, err)
		}
		if err := e.clearMarker(keyInstall); err != nil {
			return err
		}
	}
	if m.hasTruncate {
		// RollbackTo undid the data but may not have truncated the log.
		e.logger.Info("env: finishing rollback", "after", m.truncate)
		if m.truncate.Less(e.log.Last()) {
			if err := e.log.TruncateAfter(m.truncate); err != nil {
				return fmt.Errorf("env: finish rollback: truncate log after %s: %w", m.truncate, err)
			}
		}
		if err := e.clearMarker(keyTruncate); err != nil {
			return err
		}
	}
	next := m.appliedEnd
	if next.IsZero() {
		if next = e.log.First(); next.IsZero() {
			next = e.log.End() // an empty log
		}
	}
	// The reader fails if the log no longer holds next (files removed, or
	// the log lost a durable tail): the data file cannot be brought up to
	// date.
	rd, err := openReader(e.log, m.applied, next)
	if err != nil {
		return fmt.Errorf("%w: the log cannot be read from %s, where the data file continues: %w", ErrCorrupt, next, err)
	}
	e.ap.reset(m.applied, next)
	e.ap.rd = rd
	e.ap.sharedSaved = m.shared
	e.shared.Store(packLSN(m.shared))
	e.applied, e.appliedEnd, e.appliedGen = m.applied, next, m.appliedGen
	if e.digest, err = e.storedDigest(); err != nil {
		return err
	}
	e.gen = m.appliedGen
	if last := e.log.Last(); !last.IsZero() {
		if rec, err := e.log.Read(last); err == nil {
			if r, err := decodeRecord(rec.Payload); err == nil {
				e.gen = r.gen
			}
		}
	}
	return nil
}

// clearMarker deletes a meta marker.
func (e *Env) clearMarker(key []byte) error {
	err := e.dbUpdate(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(key) })
	if err != nil {
		return fmt.Errorf("env: clear %s marker: %w", key, err)
	}
	return nil
}
