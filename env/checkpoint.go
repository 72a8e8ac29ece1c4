package env

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"logship/wal/lsn"
)

// CheckpointInfo describes a checkpoint.
type CheckpointInfo struct {
	// LSN is the checkpoint: the data file holds, durably, every record up
	// to it. Recovery replays only the records after it.
	LSN lsn.LSN
	// KeepFrom is the first LSN whose log file must be kept (recovery
	// and, later, replication retention need the log from there).
	KeepFrom lsn.LSN
	// Removable names the log files (paths) that hold only records before
	// KeepFrom: no longer needed for recovery.
	Removable []string
	// Removed names the files removed (with Config.AutoRemoveLogs).
	Removed []string
}

// every runs duty every interval until Close, on a goroutine Close waits
// for (Config.CheckpointInterval, Config.VerifyInterval). The duty's
// context ends when Close begins; a failure is logged and the duty runs
// again at the next interval.
func (e *Env) every(interval time.Duration, what string, duty func(context.Context) error) {
	e.duties.Add(1)
	go func() {
		defer e.duties.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-e.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := duty(ctx); errors.Is(err, ErrClosed) || ctx.Err() != nil {
				return
			} else if err != nil {
				e.logger.Warn("env: periodic "+what+" failed; trying again at the next interval", "err", err)
			}
		}
	}()
}

// Checkpoint makes every commit made before the call part of the durable
// data file (the applier catches up; bbolt fsyncs each of its commits),
// records that as the checkpoint, and reports the log files recovery no
// longer needs. With Config.AutoRemoveLogs it also removes them. On a
// delayed replica (Config.MinApplyDelay) the commits not yet due stay
// out of it: the checkpoint is the applied position, and their log is
// kept.
func (e *Env) Checkpoint(ctx context.Context) (CheckpointInfo, error) {
	if err := e.enter(); err != nil {
		return CheckpointInfo{}, err
	}
	defer e.exit()
	e.ctl.Lock()
	defer e.ctl.Unlock()
	applied, end, err := e.catchUp(ctx)
	if err != nil {
		return CheckpointInfo{}, err
	}
	return e.checkpointAt(applied, end)
}

// catchUp makes the whole log durable and applied (with MinApplyDelay,
// what is due of it: the checkpoint lies before the records that wait,
// so their log is kept), and returns the last
// record applied and where the next one starts, read together: where a
// checkpoint now can be. The caller holds ctl.
func (e *Env) catchUp(ctx context.Context) (applied, end lsn.LSN, err error) {
	last := e.log.Last()
	if err := e.log.Sync(last); err != nil {
		return lsn.Zero, lsn.Zero, e.fail(fmt.Errorf("env: log sync at %s: %w", last, err))
	}
	if err := e.waitDue(ctx, last); err != nil {
		return lsn.Zero, lsn.Zero, err
	}
	// Published means committed (and fsynced) by bbolt.
	applied, end, _ = e.appliedPos()
	return applied, end, nil
}

// checkpointAt records the checkpoint at applied, end (catchUp's) and,
// with Config.AutoRemoveLogs, removes the log files it made unnecessary.
// The caller holds ctl.
func (e *Env) checkpointAt(applied, end lsn.LSN) (CheckpointInfo, error) {
	e.dbMu.RLock()
	err := e.dbUpdate(func(btx *bolt.Tx) error {
		return putCheckpoint(btx.Bucket(bucketMeta), applied, end)
	})
	e.dbMu.RUnlock()
	if err != nil {
		return CheckpointInfo{}, e.fail(fmt.Errorf("env: record checkpoint: %w", err))
	}
	e.st.checkpoint.Add(1)
	info := CheckpointInfo{LSN: applied, KeepFrom: e.logKeepFrom(applied)}
	if info.Removable, err = e.removableLogs(info.KeepFrom); err != nil {
		return info, err
	}
	if e.cfg.AutoRemoveLogs {
		if info.Removed, err = e.removeLogs(info.KeepFrom); err != nil {
			return info, err
		}
	}
	e.logger.Debug("env: checkpoint", "lsn", applied, "keep_from", info.KeepFrom, "removable", len(info.Removable))
	return info, nil
}

// RemoveLogs removes the log files that the last checkpoint made
// unnecessary, and returns their paths.
func (e *Env) RemoveLogs() ([]string, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.exit()
	e.ctl.Lock()
	defer e.ctl.Unlock()
	var m metaState
	e.dbMu.RLock()
	err := e.db.View(func(btx *bolt.Tx) (err error) {
		m, err = readMeta(btx)
		return err
	})
	e.dbMu.RUnlock()
	if err != nil {
		return nil, err
	}
	return e.removeLogs(e.logKeepFrom(lsn.Min(m.ckpt, m.applied)))
}

// logKeepFrom returns the LSN from which the log must be kept, given the
// checkpoint: the checkpoint's own record, so that the file the data file
// continues from is kept. This is the one place where retention is
// decided; replication adds its constraints here: the log an internal
// initialization this site serves still needs (rep's RetainLSN), and the
// log lagging sites need within the budget (KeepFor, keep.go).
func (e *Env) logKeepFrom(ckpt lsn.LSN) lsn.LSN {
	keep := e.initKeepFrom(ckpt)
	if k := e.siteKeepFrom(); !k.IsZero() && k.Less(keep) {
		keep = k // a lagging site within the budget needs it
	}
	return keep
}

// initKeepFrom is logKeepFrom without the lagging sites: what recovery
// and an internal init this site serves need (archive --force).
func (e *Env) initKeepFrom(ckpt lsn.LSN) lsn.LSN {
	e.keep.mu.Lock()
	r := e.keep.retain
	e.keep.mu.Unlock()
	if !r.IsZero() && r.Less(ckpt) {
		return r // a site this one serves still needs it (Retain)
	}
	return ckpt
}

// removeLogs removes the log files wholly before keep.
func (e *Env) removeLogs(keep lsn.LSN) ([]string, error) {
	if keep.IsZero() {
		return nil, nil
	}
	removed, err := e.log.RemoveBefore(keep)
	if err != nil {
		return removed, fmt.Errorf("env: remove logs before %s: %w", keep, err)
	}
	if len(removed) > 0 {
		e.logger.Info("env: removed log files", "before", keep, "files", len(removed))
	}
	return removed, nil
}

// removableLogs lists the log files RemoveBefore(keep) would remove: those
// numbered below keep.File (a file's number is the File of its records'
// LSNs), never the last one.
func (e *Env) removableLogs(keep lsn.LSN) ([]string, error) {
	if keep.IsZero() {
		return nil, nil
	}
	segs := e.log.Segments()
	var out []string
	for _, path := range segs[:max(len(segs)-1, 0)] {
		if n, ok := logFileNum(path); ok && n < keep.File {
			out = append(out, path)
		}
	}
	return out, nil
}

// logFileNum returns the number of the log file at path: the File of its
// records' LSNs.
func logFileNum(path string) (uint32, bool) {
	num, ok := strings.CutPrefix(filepath.Base(path), "log.")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 32)
	return uint32(n), err == nil
}
