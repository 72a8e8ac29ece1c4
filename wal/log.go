package wal

import (
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// Log is an open write-ahead log. Its methods are safe for concurrent use.
//
// Locking. mu guards the in-memory state below it and is never held
// across I/O, so Append is a memcpy under a mutex. wmu serializes writes to
// the files: a writer holds it from the moment it takes the pending chunks
// until they are written, so chunks reach the files in LSN order. The
// syncing flag (under mu, waited on with cond) admits one fsync-er at a
// time: group commit is "whoever finds no sync in progress syncs for
// everyone". Operations that rewrite the log (truncation, removal, Reset,
// Close) take the syncing flag and then wmu, excluding both. Order: syncing,
// then wmu, then mu; segment.fmu is innermost.
type Log struct {
	dir  string
	opts Options
	fs   vfs.FS
	log  *slog.Logger

	wmu       sync.Mutex
	dirty     []*segment // written since their last fsync; guarded by wmu
	dirDirty  bool       // a file was created since the last SyncDir; wmu
	created   uint32     // highest segment created on disk; wmu
	dirSynced atomic.Uint32
	scratch   []*segment // the syncer's copy of dirty; only the syncer uses it

	mu      sync.Mutex
	cond    sync.Cond // on mu: syncing, durable, failed or closed changed
	segs    []*segment
	end     lsn.LSN // where the next record goes
	last    lsn.LSN // the last record; Zero if none
	prevOff uint32  // offset of the last record in end.File; 0 if none
	written lsn.LSN // everything before it is in the files
	durable lsn.LSN // everything before it is fsynced
	syncing bool
	failed  error
	closed  bool

	pending      []chunk // appended, not yet written, in LSN order
	pendingSpare []chunk
	pendingBytes int
	bufs         [][]byte // spare chunk buffers

	// The background writer: Append kicks it when a buffer is full, so
	// that the write(2) of one buffer overlaps the filling of the next.
	space       sync.Cond // on mu: pending data was taken for writing
	kick        chan struct{}
	quit        chan struct{}
	flusherDone chan struct{}
	stopOnce    sync.Once

	// syncStart is when the fsync in progress began (unix nanoseconds), 0
	// when none is: see SyncingSince.
	syncStart atomic.Int64

	gen  uint64 // bumped by every operation that invalidates positions
	cuts []cut  // the latest such operations, for readers
	genA atomic.Uint64

	pa *preallocator // nil when the log does not preallocate

	st stats
}

// chunk is a run of framed records (and, for a new file, its header)
// bound for one file at one offset.
type chunk struct {
	seg    *segment
	prev   *segment // the segment before seg, when create is set
	off    uint32
	data   []byte
	create bool // data starts with the file header; create the file first
}

type stats struct {
	appends, appendBytes, syncs, syncNanos, writes, writeBytes, prealloc atomic.Uint64
	walked                                                               atomic.Uint64
}

// Stats is a snapshot of counters.
type Stats struct {
	Appends, AppendBytes, Syncs, SyncNanos, Writes, WriteBytes uint64
	// PreallocBytes counts the zeros laid ahead of the writer.
	PreallocBytes uint64
	// WalkedRecords counts the records read to decide whether an LSN
	// that failed to read is inside a record or damaged.
	WalkedRecords uint64
}

// Sub returns the counts accumulated since prev.
func (s Stats) Sub(prev Stats) Stats {
	return Stats{
		Appends:     s.Appends - prev.Appends,
		AppendBytes: s.AppendBytes - prev.AppendBytes,
		Syncs:       s.Syncs - prev.Syncs,
		SyncNanos:   s.SyncNanos - prev.SyncNanos,
		Writes:      s.Writes - prev.Writes,
		WriteBytes:  s.WriteBytes - prev.WriteBytes,

		PreallocBytes: s.PreallocBytes - prev.PreallocBytes,
		WalkedRecords: s.WalkedRecords - prev.WalkedRecords,
	}
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	return Stats{
		Appends:     l.st.appends.Load(),
		AppendBytes: l.st.appendBytes.Load(),
		Syncs:       l.st.syncs.Load(),
		SyncNanos:   l.st.syncNanos.Load(),
		Writes:      l.st.writes.Load(),
		WriteBytes:  l.st.writeBytes.Load(),

		PreallocBytes: l.st.prealloc.Load(),
		WalkedRecords: l.st.walked.Load(),
	}
}

// Dir returns the directory the log lives in.
func (l *Log) Dir() string { return l.dir }

// SegmentPath returns the path of the segment file numbered num (an
// LSN's File), whether or not it exists.
func (l *Log) SegmentPath(num uint32) string { return filepath.Join(l.dir, segName(num)) }

// Append adds a record and returns its LSN. The record is in memory only:
// call Sync (or use AppendSync) to make it durable. A record that does not
// fit in the rest of the current file starts a new one.
func (l *Log) Append(payload []byte) (lsn.LSN, error) {
	if uint64(len(payload)) > uint64(l.opts.SegmentSize)-FileHeaderSize-RecordHeaderSize {
		return lsn.Zero, fmt.Errorf("%w: %d bytes; a %d-byte segment holds at most %d",
			ErrTooLarge, len(payload), l.opts.SegmentSize, l.opts.SegmentSize-FileHeaderSize-RecordHeaderSize)
	}
	size := uint64(RecordHeaderSize + len(payload))
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return lsn.Zero, err
	}
	at := l.end
	over := uint64(at.Offset)+size > uint64(l.opts.SegmentSize)
	if (over && l.lastSeg().hasRecords()) || uint64(at.Offset)+size > maxOffset {
		var err error
		if at, err = l.rollLocked(); err != nil {
			l.mu.Unlock()
			return lsn.Zero, err
		}
	}
	l.appendLocked(at, payload)
	err := l.makeRoomLocked()
	l.mu.Unlock()
	if err != nil {
		return lsn.Zero, err
	}
	return at, nil
}

// AppendAt adds a record at a position chosen by someone else: a
// replication client's log must be byte-identical to its master's. at must
// be End(), or the start of the next file (End().File+1, FileHeaderSize)
// when the master rolled over. SegmentSize does not apply: the master's
// does.
func (l *Log) AppendAt(at lsn.LSN, payload []byte) error {
	size := uint64(RecordHeaderSize + len(payload))
	if uint64(at.Offset)+size > maxOffset {
		return fmt.Errorf("%w: %d bytes at %s overflow the file's offsets", ErrTooLarge, len(payload), at)
	}
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	switch {
	case at == l.end:
	case at.File == l.end.File+1 && at.Offset == FileHeaderSize:
		if _, err := l.rollLocked(); err != nil {
			l.mu.Unlock()
			return err
		}
	default:
		end := l.end
		l.mu.Unlock()
		return fmt.Errorf("%w: append at %s, but the log ends at %s", ErrBadPosition, at, end)
	}
	l.appendLocked(at, payload)
	err := l.makeRoomLocked()
	l.mu.Unlock()
	return err
}

// makeRoomLocked starts the background write of a full buffer, and holds
// the appender back while a second full buffer waits for the first to be
// written: memory stays bounded by about two buffers.
func (l *Log) makeRoomLocked() error {
	if l.pendingBytes < l.opts.BufferSize {
		return nil
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
	for l.pendingBytes >= 2*l.opts.BufferSize && l.failed == nil && !l.closed {
		l.space.Wait()
	}
	return l.writableLocked()
}

// flusher is the background writer's loop.
func (l *Log) flusher() {
	defer close(l.flusherDone)
	for {
		select {
		case <-l.kick:
		case <-l.quit:
			return
		}
		for {
			if err := l.flush(); err != nil {
				break // the log failed; appenders see it
			}
			l.mu.Lock()
			again := l.pendingBytes >= l.opts.BufferSize
			l.mu.Unlock()
			if !again {
				break
			}
		}
	}
}

// AppendSync appends a record and waits until it is durable.
func (l *Log) AppendSync(payload []byte) (lsn.LSN, error) {
	at, err := l.Append(payload)
	if err != nil {
		return lsn.Zero, err
	}
	return at, l.Sync(at)
}

// rollLocked starts a new segment after the current one and returns the
// position of its first record. The file itself is created by the writer.
func (l *Log) rollLocked() (lsn.LSN, error) {
	cur := l.lastSeg()
	if cur.num == math.MaxUint32 {
		return lsn.Zero, fmt.Errorf("wal: %s: out of segment file numbers", l.dir)
	}
	h := fileHeader{num: cur.num + 1, firstOff: FileHeaderSize, prevLast: l.last}
	s := newSegment(l.dir, h)
	l.segs = append(l.segs, s)
	hdr := h.encode()
	l.pending = append(l.pending, chunk{seg: s, prev: cur, data: append(l.newBuf(), hdr[:]...), create: true})
	l.pendingBytes += FileHeaderSize
	l.end = lsn.New(s.num, FileHeaderSize)
	l.prevOff = 0
	return l.end, nil
}

// appendLocked frames payload as the record at `at`, which is l.end.
func (l *Log) appendLocked(at lsn.LSN, payload []byte) {
	var c *chunk
	if n := len(l.pending); n > 0 {
		c = &l.pending[n-1]
		// A full buffer is left for the writer and a fresh one started,
		// so buffers keep their size and can be reused.
		if c.seg.num != at.File || c.off+uint32(len(c.data)) != at.Offset ||
			(len(c.data) > 0 && len(c.data)+RecordHeaderSize+len(payload) > cap(c.data)) {
			c = nil
		}
	}
	if c == nil {
		l.pending = append(l.pending, chunk{seg: l.lastSeg(), off: at.Offset, data: l.newBuf()})
		c = &l.pending[len(l.pending)-1]
	}
	c.data, _ = appendRecord(c.data, at, l.prevOff, payload)
	c.seg.noteStart(at.Offset)
	size := RecordHeaderSize + len(payload)
	l.prevOff = at.Offset
	l.last = at
	l.end = lsn.New(at.File, at.Offset+uint32(size))
	c.seg.end = l.end.Offset
	l.pendingBytes += size
	l.st.appends.Add(1)
	l.st.appendBytes.Add(uint64(len(payload)))
}

// bufSlack lets a buffer take the record that crosses BufferSize without
// growing, in the common case of small records.
const bufSlack = 4096

// newBuf returns an empty chunk buffer, reusing a spare one if it can.
func (l *Log) newBuf() []byte {
	if n := len(l.bufs); n > 0 {
		b := l.bufs[n-1]
		l.bufs = l.bufs[:n-1]
		return b[:0]
	}
	return make([]byte, 0, l.opts.BufferSize+bufSlack)
}

// recycleLocked keeps the buffers of written chunks for reuse.
func (l *Log) recycleLocked(chunks []chunk) {
	for i := range chunks {
		if len(l.bufs) < 3 && cap(chunks[i].data) == l.opts.BufferSize+bufSlack {
			l.bufs = append(l.bufs, chunks[i].data[:0])
		}
		chunks[i] = chunk{}
	}
}

func (l *Log) lastSeg() *segment { return l.segs[len(l.segs)-1] }

// segLocked returns segment num, or nil if the log does not hold it.
func (l *Log) segLocked(num uint32) *segment {
	if len(l.segs) == 0 || num < l.segs[0].num {
		return nil
	}
	i := uint64(num - l.segs[0].num)
	if i >= uint64(len(l.segs)) {
		return nil
	}
	return l.segs[i]
}

// writableLocked returns why the log accepts no writes, if it does not.
func (l *Log) writableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.failed
}

// firstLocked returns the first record's LSN, or Zero if there is none.
func (l *Log) firstLocked() lsn.LSN {
	for _, s := range l.segs {
		if s.hasRecords() {
			return lsn.New(s.num, s.firstOff)
		}
	}
	return lsn.Zero
}

// First returns the LSN of the first record, or lsn.Zero if the log holds
// none.
func (l *Log) First() lsn.LSN {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstLocked()
}

// Last returns the LSN of the last record, or lsn.Zero if the log holds
// none.
func (l *Log) Last() lsn.LSN {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastLocked()
}

func (l *Log) lastLocked() lsn.LSN {
	first := l.firstLocked()
	if first.IsZero() || l.last.Less(first) {
		return lsn.Zero
	}
	return l.last
}

// End returns the LSN the next appended record will get (unless it starts
// a new file).
func (l *Log) End() lsn.LSN {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

// DurableEnd returns the position before which every record is durable.
func (l *Log) DurableEnd() lsn.LSN {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable
}

// Err returns the error that failed the log (wrapping ErrFailed), or nil.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// Segments returns the paths of the log's segment files, oldest first.
func (l *Log) Segments() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.segs))
	for i, s := range l.segs {
		out[i] = s.path
	}
	return out
}

// Close makes every appended record durable, then closes the files. Later
// calls return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	l.stopOnce.Do(func() {
		close(l.quit)
		<-l.flusherDone
	})
	if err := l.lockExclusive(); err != nil {
		return err
	}
	err := l.syncFiles(true)
	if l.pa != nil {
		// Leave the last file ending at its records, as if never
		// preallocated: the next Open then has no zeros to cut.
		l.pa.stop()
		if err == nil {
			var trimmed bool
			if trimmed, err = trimZeros(l, l.lastSeg()); trimmed && err == nil {
				err = l.lastSeg().sync(l.fs)
			}
		}
	}
	l.mu.Lock()
	l.closed = true
	l.space.Broadcast()
	segs := l.segs
	l.mu.Unlock()
	for _, s := range segs {
		if cerr := s.close(false); err == nil && cerr != nil {
			err = fmt.Errorf("wal: close %s: %w", s.path, cerr)
		}
	}
	l.unlockExclusive()
	return err
}
