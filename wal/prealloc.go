package wal

import (
	"sync"

	"logship/wal/vfs"
)

// Preallocation. On ext4 (and most file systems) an fdatasync after a
// write that extends a file must also commit the new size and block
// allocation to the journal; an fdatasync after overwriting blocks that are
// already allocated and written need not. Measured on this project's
// machines, the second is about 1.4x as fast (BenchmarkRawFsync, 4 KiB
// writes: ~217 µs against ~155 µs), and fsync is what a commit waits for.
// fallocate alone does not help: its unwritten extents are converted on
// first write, which is again a journal commit. So, like PostgreSQL with
// its zero-filled WAL segments, the log keeps real zeros on disk ahead of
// its writer.
//
// A background goroutine (the preallocator) writes zeros past the
// writer's position in the current file, a chunk at a time in 64 KiB
// pieces, and fsyncs them; the writer then overwrites them. Zeros never
// read as a record (a record's checksum covers its LSN, and only a file's
// first record may have a zero back link), so the only file with zeros
// past its records is the last one: rolling over trims the old file to its
// records, Close trims the last one, and Open cuts a zero tail left by a
// crash without calling it a torn write.
//
// Only a log that fsyncs gains: the preallocator is woken after each of
// the log's fsyncs, never by writes alone, so a writer appending in bulk
// without syncing does not write every block twice.
//
// The preallocator and the writer never write the same bytes: the writer
// announces each write's end before writing, each piece of zeros starts
// past it, and a writer that would enter a piece being copied in waits
// for that copy only. The chunk starts small, so that a log that is
// barely written costs almost nothing, and doubles each time the writer
// catches up with the zeros.

// minPreallocChunk is the first chunk the preallocator fills in a log.
const minPreallocChunk = 64 << 10

// preallocPiece is how much the preallocator copies in at a time (the
// writer waits for at most one piece) and writes back before the next, so
// that a commit's fsync meanwhile finds at most this much of zeros to
// flush with its records.
const preallocPiece = 64 << 10

// zeros is a preallocPiece of zeros, never written to.
var zeros = make([]byte, preallocPiece)

type preallocator struct {
	l      *Log
	max    int64 // the chunk never grows past this
	limit  int64 // no zeros past this offset (the segment size)
	mu     sync.Mutex
	cond   sync.Cond
	seg    *segment // the file the state below describes; nil: none
	filled int64    // zeros are written up to here
	wrote  int64    // the writer has written (or is writing) up to here
	chunk  int64
	// filling: a fill is under way. inPiece: it is writing the zeros of
	// [pieceFrom, ...) of pieceSeg, which the writer must not enter.
	filling, inPiece bool
	pieceSeg         *segment
	pieceFrom        int64
	paused, stopped  bool
	wake             chan struct{}
	done             chan struct{}
	stopOnce         sync.Once
}

// startPrealloc starts the preallocator if the options ask for one.
func (l *Log) startPrealloc() {
	n := l.opts.Preallocate
	if n == 0 && l.fs == vfs.OS {
		n = DefaultPreallocate
	}
	if n <= 0 {
		return
	}
	p := &preallocator{
		l: l, max: max(n, minPreallocChunk), limit: l.opts.SegmentSize,
		chunk: minPreallocChunk, wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	p.cond.L = &p.mu
	p.resetTo(l.lastSeg())
	l.pa = p
	go p.run()
}

// resetTo makes seg, whose file ends at its last record, the one to fill.
// The caller holds p.mu or owns p exclusively.
func (p *preallocator) resetTo(seg *segment) {
	p.l.mu.Lock()
	end := int64(seg.end)
	p.l.mu.Unlock()
	p.seg, p.filled, p.wrote = seg, end, end
}

// beforeWrite is called by the writer, holding wmu, before it writes
// [off, off+n) of seg. It waits only while the preallocator writes a
// piece of zeros there (a memory copy into the page cache).
func (p *preallocator) beforeWrite(seg *segment, off, n int64) {
	if p == nil {
		return
	}
	end := off + n
	p.mu.Lock()
	for p.inPiece && p.pieceSeg == seg && end > p.pieceFrom {
		p.cond.Wait()
	}
	if seg != p.seg {
		p.seg, p.filled, p.wrote = seg, off, off
	}
	p.wrote = max(p.wrote, end)
	p.mu.Unlock()
}

// kick is called after each fsync of the log: a log that fsyncs often is
// the one whose fsyncs the zeros speed up. A writer that appends in bulk
// and rarely fsyncs gains nothing from them (writing each block twice
// would halve its bandwidth), so writes alone never start a fill.
func (p *preallocator) kick() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Under mu, so that stop cannot close wake in between.
	if !p.filling && !p.paused && !p.stopped && p.seg != nil &&
		p.filled-p.wrote < p.chunk/2 && p.wrote < p.limit {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

func (p *preallocator) run() {
	defer close(p.done)
	for range p.wake {
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return
		}
		seg := p.seg
		if seg == nil || p.paused || p.filled-p.wrote >= p.chunk/2 {
			p.mu.Unlock()
			continue
		}
		// The writer got past the zeros: they come too late, so lay
		// more at a time.
		if p.wrote > p.filled {
			p.chunk = min(2*p.chunk, p.max)
		}
		from := max(p.filled, p.wrote)
		to := min(from+p.chunk, p.limit)
		p.filling = true
		p.mu.Unlock()

		laid, err := p.fill(seg, from, to)

		p.mu.Lock()
		p.filling = false
		p.l.st.prealloc.Add(uint64(laid))
		if err != nil {
			// Preallocation is an optimisation: the log works without
			// it, so a failure (a full disk, say) only stops it.
			p.stopped = true
			p.l.log.Warn("wal: preallocating log space failed; appending without it", "file", seg.path, "err", err)
		}
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// fill writes zeros over [from, to) of seg, a piece at a time, and fsyncs
// them; it returns how many bytes of zeros it wrote. Each piece starts at
// or after the writer's announced end and excludes the writer only while
// its zeros are copied in; the piece is then written back (SyncRange)
// with no exclusion, so that a commit's fsync never finds more than a
// piece of zeros to flush. A fill stops early when the writer overtakes
// it, or the preallocator is paused, stopped or moved to another file.
func (p *preallocator) fill(seg *segment, from, to int64) (int64, error) {
	f, err := seg.file(p.l.fs)
	if err != nil {
		return 0, err
	}
	rs, _ := f.(vfs.RangeSyncer)
	var laid int64
	for off := from; off < to; {
		p.mu.Lock()
		if p.stopped || p.paused || p.seg != seg {
			p.mu.Unlock()
			return laid, nil // abandoned; nothing to make durable
		}
		start := max(off, p.wrote)
		if start >= to {
			p.mu.Unlock()
			break
		}
		n := min(preallocPiece, to-start)
		p.inPiece, p.pieceSeg, p.pieceFrom = true, seg, start
		p.mu.Unlock()

		err := writeFull(f, zeros[:n], start)

		p.mu.Lock()
		p.inPiece, p.pieceSeg = false, nil
		if err == nil && p.seg == seg {
			p.filled = max(p.filled, start+n)
		}
		p.cond.Broadcast()
		p.mu.Unlock()
		if err != nil {
			return laid, err
		}
		laid += n
		if rs != nil {
			if err := rs.SyncRange(start, n); err != nil {
				return laid, err
			}
		}
		off = start + n
	}
	return laid, f.Sync()
}

// pause waits for a piece of zeros being copied in, stops the fill in
// progress before its next piece, and starts no other until resume.
// Operations that rewrite the log's files pause the preallocator.
func (p *preallocator) pause() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.paused = true
	for p.inPiece {
		p.cond.Wait()
	}
	p.mu.Unlock()
}

// resume follows pause: the last segment, as the rewrite left it, is the
// one to fill.
func (p *preallocator) resume() {
	if p == nil {
		return
	}
	// l.segs is the log's mutex's to guard: an Append may roll over
	// meanwhile (under that mutex only). The rollover's file is made by
	// the writer, which the caller still excludes, and the writer
	// retires this segment's fill when it does.
	p.l.mu.Lock()
	last := p.l.lastSeg()
	p.l.mu.Unlock()
	p.mu.Lock()
	p.paused = false
	if !p.stopped {
		p.resetTo(last)
	}
	p.mu.Unlock()
}

// retire is called by the writer, holding wmu, when it rolls over from
// seg to a new file: it stops any fill of seg before its next piece, waits
// for a piece being copied in, and trims seg to its records, so that only
// the last file ever has zeros past its records.
func (p *preallocator) retire(seg *segment) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	if p.seg == seg {
		p.seg = nil // the fill stops before its next piece
	}
	for p.inPiece && p.pieceSeg == seg {
		p.cond.Wait()
	}
	p.mu.Unlock()
	_, err := trimZeros(p.l, seg)
	return err
}

// trimZeros cuts seg's file back to its records if zeros follow them, and
// reports whether it did.
func trimZeros(l *Log, seg *segment) (bool, error) {
	l.mu.Lock()
	end := int64(seg.end)
	l.mu.Unlock()
	f, err := seg.file(l.fs)
	if err != nil {
		return false, err
	}
	size, err := f.Size()
	if err != nil || size <= end {
		return false, err
	}
	return true, f.Truncate(end)
}

// stop ends the preallocator and waits for it.
func (p *preallocator) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.stopped = true
	p.stopOnce.Do(func() { close(p.wake) })
	p.mu.Unlock()
	<-p.done
}
