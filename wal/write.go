package wal

import (
	"fmt"
	"runtime"
	"time"

	"logship/wal/lsn"
)

// Sync returns when the record at `at` and every record before it are
// durable, that is when DurableEnd() > at. If `at` is at or after End,
// Sync makes every record appended so far durable.
//
// Sync is group commit: while one caller fsyncs, the others wait, and the
// next fsync covers every record appended meanwhile, so N concurrent
// callers cost about two fsyncs, not N.
func (l *Log) Sync(at lsn.LSN) error {
	l.mu.Lock()
	for {
		if err := l.writableLocked(); err != nil {
			l.mu.Unlock()
			return err
		}
		if at.Less(l.durable) {
			l.mu.Unlock()
			return nil
		}
		if !l.syncing {
			break
		}
		l.cond.Wait()
	}
	// Whoever syncs now covers every record appended so far, including
	// `at`: no need to loop after.
	l.syncing = true
	l.mu.Unlock()

	// Writers woken by the previous sync are about to append their next
	// records: let them, so that this fsync carries them too instead of
	// leaving them for the next one. A lone writer finds nobody to wait
	// for and goes straight on.
	for range 8 {
		before := l.st.appends.Load()
		runtime.Gosched()
		if l.st.appends.Load() == before {
			break
		}
	}

	if l.opts.BeforeSync != nil {
		l.opts.BeforeSync()
	}
	l.wmu.Lock()
	err := l.syncFiles(false)

	l.mu.Lock()
	l.syncing = false
	l.cond.Broadcast()
	l.mu.Unlock()
	return err
}

// syncFiles writes everything pending and fsyncs every file written since
// the last fsync, then advances DurableEnd. The caller holds the syncing
// flag and wmu. Unless keepWmu is set, syncFiles releases wmu before the
// fsyncs, so that a writer can fill the file while the disk works.
func (l *Log) syncFiles(keepWmu bool) error {
	start := time.Now()
	l.syncStart.Store(start.UnixNano())
	defer l.syncStart.Store(0)
	target, err := l.flushLocked()
	dirty := append(l.scratch[:0], l.dirty...)
	clear(l.dirty)
	l.dirty = l.dirty[:0]
	dirDirty, created := l.dirDirty, l.created
	l.dirDirty = false
	if !keepWmu {
		l.wmu.Unlock()
	}
	if err != nil {
		return err
	}
	for i, s := range dirty {
		if i > 0 && s == dirty[i-1] {
			continue
		}
		f, err := s.file(l.fs)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			return l.fail(fmt.Errorf("fsync %s: %w", s.path, err))
		}
	}
	clear(dirty)
	l.scratch = dirty[:0]
	if dirDirty {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.fail(fmt.Errorf("sync directory %s: %w", l.dir, err))
		}
		l.noteDirSynced(created)
	}
	l.pa.kick()
	if len(dirty) > 0 || dirDirty {
		took := time.Since(start)
		l.st.syncs.Add(1)
		l.st.syncNanos.Add(uint64(took))
		if l.opts.OnSync != nil {
			l.opts.OnSync(took)
		}
	}
	l.mu.Lock()
	if l.durable.Less(target) {
		l.durable = target
	}
	l.mu.Unlock()
	return nil
}

// noteDirSynced records that the directory entries of segments up to num
// are durable.
func (l *Log) noteDirSynced(num uint32) {
	for {
		cur := l.dirSynced.Load()
		if cur >= num || l.dirSynced.CompareAndSwap(cur, num) {
			return
		}
	}
}

// flush writes every pending chunk to its file, without fsync.
func (l *Log) flush() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_, err := l.flushLocked()
	return err
}

// flushLocked writes every pending chunk and returns the position
// everything before which is now written. The caller holds wmu.
func (l *Log) flushLocked() (lsn.LSN, error) {
	l.mu.Lock()
	if l.failed != nil {
		err := l.failed
		l.mu.Unlock()
		return lsn.Zero, err
	}
	chunks := l.pending
	if len(chunks) == 0 {
		w := l.written
		l.mu.Unlock()
		return w, nil
	}
	l.pending, l.pendingSpare = l.pendingSpare[:0], nil
	l.pendingBytes = 0
	l.space.Broadcast()
	l.mu.Unlock()

	for i := range chunks {
		if err := l.writeChunk(&chunks[i]); err != nil {
			return lsn.Zero, l.fail(err)
		}
	}
	c := &chunks[len(chunks)-1]
	w := lsn.New(c.seg.num, c.off+uint32(len(c.data)))

	l.mu.Lock()
	l.written = w
	l.recycleLocked(chunks)
	l.pendingSpare = chunks[:0]
	l.mu.Unlock()
	return w, nil
}

// writeChunk writes one chunk, creating its file first if it is new. The
// caller holds wmu.
func (l *Log) writeChunk(c *chunk) error {
	if c.create {
		// Recovery trusts every file but the last one, so the file
		// before this one must be durable, data and name, before this
		// one exists.
		if c.prev != nil {
			if err := l.pa.retire(c.prev); err != nil {
				return fmt.Errorf("trim %s before rolling over: %w", c.prev.path, err)
			}
			if err := c.prev.sync(l.fs); err != nil {
				return fmt.Errorf("fsync %s before rolling over: %w", c.prev.path, err)
			}
			if l.dirSynced.Load() < c.prev.num {
				if err := l.fs.SyncDir(l.dir); err != nil {
					return fmt.Errorf("sync directory %s: %w", l.dir, err)
				}
				l.noteDirSynced(l.created)
			}
		}
		if err := c.seg.create(l.fs); err != nil {
			return fmt.Errorf("create %s: %w", c.seg.path, err)
		}
		l.dirDirty = true
		l.created = max(l.created, c.seg.num)
	}
	f, err := c.seg.file(l.fs)
	if err != nil {
		return err
	}
	l.pa.beforeWrite(c.seg, int64(c.off), int64(len(c.data)))
	if err := writeFull(f, c.data, int64(c.off)); err != nil {
		return err
	}
	if len(c.data) >= writebackMin {
		startWriteback(f, int64(c.off), int64(len(c.data)))
	}
	l.st.writes.Add(1)
	l.st.writeBytes.Add(uint64(len(c.data)))
	if n := len(l.dirty); n == 0 || l.dirty[n-1] != c.seg {
		l.dirty = append(l.dirty, c.seg)
	}
	return nil
}

// fail marks the log failed by err, unless it already failed, and returns
// the failure.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed == nil {
		l.failed = fmt.Errorf("%w: %w", ErrFailed, err)
		l.log.Error("wal: log failed; refusing further writes", "dir", l.dir, "err", err)
		l.cond.Broadcast()
		l.space.Broadcast()
	}
	return l.failed
}

// lockExclusive waits for any sync to finish, then holds off syncs and
// writes until unlockExclusive.
func (l *Log) lockExclusive() error {
	l.mu.Lock()
	for l.syncing && !l.closed {
		l.cond.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.syncing = true
	l.mu.Unlock()
	l.wmu.Lock()
	l.pa.pause()
	return nil
}

func (l *Log) unlockExclusive() {
	l.pa.resume()
	l.wmu.Unlock()
	l.mu.Lock()
	l.syncing = false
	l.cond.Broadcast()
	l.mu.Unlock()
}
