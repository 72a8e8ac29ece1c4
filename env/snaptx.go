package env

// Snapshots served straight from a bbolt read transaction on the data
// file (internal init): copying a data file of a GiB to a snapshot file
// first cost as much disk time as the whole transfer. The stream is the
// one Env.Snapshot writes (header, bbolt file, CRC-32C), read in place.
//
// Two things make that safe:
//
//   - The bytes are one function of the transaction. Pages the
//     transaction does not reach (free in its view) are rewritten by
//     commits meanwhile, so they are served as zeros: a bbolt file opened
//     without a synced freelist rebuilds it from the reachable pages, and
//     a byte read twice (a chunk re-sent, a transfer resumed after the
//     client restarted, the CRC pass) reads the same.
//   - An open read transaction makes a bbolt remap (the data file
//     outgrowing its memory map) wait, and with it the applier and every
//     new read transaction. As the file nears the end of the map, the
//     snapshots in transaction are spilled: their bytes are copied to a
//     file beside the transfer and the transaction ends (which is what
//     serving a snapshot always cost before); a read-write transaction
//     that could remap, or one that has waited too long, waits for that.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// crcInlineBytes: a snapshot of at most this much data has its CRC
// computed at once; a larger one on a goroutine beside the transfer
// (the trailer, asked last, waits for it).
const crcInlineBytes = 8 << 20

// When the data file comes within spillMargin of bbolt's memory map
// (plus four times the last read-write transaction's growth), the
// snapshots in transaction start being copied out beside the transfer;
// within spillWaitMargin, a read-write transaction waits for that copy
// first, since it could remap. spillStall is how long one may run before
// the copy is waited for anyway (it may be waiting for a remap the
// margins did not foresee).
const (
	spillMargin     = 256 << 20
	spillWaitMargin = 32 << 20
	spillStall      = 300 * time.Millisecond
)

var errSnapClosed = errors.New("env: the snapshot is no longer served")

// txSnaps is the environment's record of the snapshots served from read
// transactions, and of what predicts a remap.
type txSnaps struct {
	mu   sync.Mutex
	open map[*txSnap]struct{}
	n    atomic.Int32

	size     atomic.Int64 // data file size at the start of the last read-write transaction
	growth   atomic.Int64 // growth of the file by the last read-write transaction
	mapped   atomic.Int64 // a lower bound of bbolt's memory map size
	updating atomic.Int64 // start (UnixNano) of the read-write transaction in progress, 0 if none
}

// boltMapSize is bbolt's mmapSize: the map doubles from 32 KiB to 1 GiB,
// then grows by 1 GiB.
func boltMapSize(size int64) int64 {
	for i := uint(15); i <= 30; i++ {
		if size <= 1<<i {
			return 1 << i
		}
	}
	const step = 1 << 30
	if r := size % step; r > 0 {
		size += step - r
	}
	return size
}

// noteOpened records the memory map of a freshly opened data file.
func (e *Env) noteOpened(path string) {
	var size int64
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	}
	e.ts.size.Store(size)
	e.ts.growth.Store(0)
	e.ts.mapped.Store(boltMapSize(max(size, int64(e.cfg.mmapSize()))))
}

// beforeUpdate runs before every bbolt read-write transaction: it spills
// the snapshots in transaction if the transaction could remap.
func (e *Env) beforeUpdate() {
	if e.ts.n.Load() == 0 {
		return
	}
	room := e.ts.mapped.Load() - e.ts.size.Load() - 4*e.ts.growth.Load()
	switch {
	case room <= spillWaitMargin:
		e.spillServed("the data file may outgrow its memory map", true)
	case room <= spillMargin:
		e.spillServed("the data file nears the end of its memory map", false)
	}
}

// inUpdate runs first in every bbolt read-write transaction.
func (e *Env) inUpdate(btx *bolt.Tx) {
	size := btx.Size()
	if prev := e.ts.size.Swap(size); size > prev {
		e.ts.growth.Store(size - prev)
	} else {
		e.ts.growth.Store(0)
	}
	if m := boltMapSize(size); m > e.ts.mapped.Load() {
		e.ts.mapped.Store(m)
	}
}

// spillServed starts copying out every snapshot served from a read
// transaction, and waits until they are copied if wait.
func (e *Env) spillServed(why string, wait bool) {
	snaps := e.openServed()
	for _, s := range snaps {
		s.startSpill(why)
	}
	if wait {
		for _, s := range snaps {
			<-s.spillDone
		}
	}
}

// endServed ends every snapshot served from a read transaction (the data
// file is closed or replaced).
func (e *Env) endServed() {
	for _, s := range e.openServed() {
		s.close()
	}
}

// openServed lists the snapshots served from a read transaction now.
func (e *Env) openServed() []*txSnap {
	e.ts.mu.Lock()
	defer e.ts.mu.Unlock()
	snaps := make([]*txSnap, 0, len(e.ts.open))
	for s := range e.ts.open {
		snaps = append(snaps, s)
	}
	return snaps
}

// extent is a run of reachable bytes of the data file, [off, end).
type extent struct{ off, end int64 }

// txSnap is a snapshot stream served from a read transaction: ReadAt
// gives its bytes at any offset, the same every time.
type txSnap struct {
	e       *Env
	head    [snapHeaderSize]byte
	meta    []byte // the two meta pages bbolt's Tx.WriteTo writes
	length  int64  // bbolt file bytes
	live    []extent
	spillTo string

	crcDone chan struct{}
	crc     uint32
	crcErr  error

	watchStop chan struct{}
	spillOnce sync.Once
	spillDone chan struct{} // closed when a spill started has ended

	mu     sync.Mutex
	btx    *bolt.Tx
	f      *os.File // the data file, read under btx; nil after a spill
	spilt  *os.File // the bbolt bytes copied out
	closed bool
}

// size is the stream size: header, data, trailer.
func (s *txSnap) size() int64 { return snapHeaderSize + s.length + 4 }

// metaCapture keeps the first n bytes written to it and then refuses.
type metaCapture struct {
	b []byte
	n int
}

var errCaptured = errors.New("captured")

func (c *metaCapture) Write(p []byte) (int, error) {
	if len(c.b) >= c.n {
		return 0, errCaptured
	}
	k := min(len(p), c.n-len(c.b))
	c.b = append(c.b, p[:k]...)
	return k, nil
}

// newTxSnap serves btx (header h) as a snapshot stream; spillTo is the
// file a spill writes. It takes over btx.
func (e *Env) newTxSnap(btx *bolt.Tx, h snapHeader, spillTo string) (_ *txSnap, err error) {
	defer func() {
		if err != nil {
			_ = btx.Rollback()
		}
	}()
	ps := int64(btx.DB().Info().PageSize)
	s := &txSnap{e: e, length: h.length, btx: btx, spillTo: spillTo, crcDone: make(chan struct{}), watchStop: make(chan struct{}),
		spillDone: make(chan struct{})}
	copy(s.head[:], h.encode())
	c := &metaCapture{n: int(2 * ps)}
	if _, err := btx.WriteTo(c); err != nil && !errors.Is(err, errCaptured) {
		return nil, fmt.Errorf("env: snapshot meta pages: %w", err)
	}
	if len(c.b) != c.n || h.length < 2*ps {
		return nil, fmt.Errorf("env: snapshot meta pages: %d bytes of a %d-byte file", len(c.b), h.length)
	}
	s.meta = c.b
	if s.f, err = os.Open(btx.DB().Path()); err != nil {
		return nil, fmt.Errorf("env: snapshot: %w", err)
	}
	if s.live, err = livePages(s.f, s.meta[:ps], ps, h.length/ps); err != nil {
		_ = s.f.Close()
		return nil, fmt.Errorf("env: snapshot: walking the data file: %w", err)
	}
	e.ts.mu.Lock()
	if e.ts.open == nil {
		e.ts.open = map[*txSnap]struct{}{}
	}
	e.ts.open[s] = struct{}{}
	e.ts.n.Store(int32(len(e.ts.open)))
	e.ts.mu.Unlock()
	if h.length <= crcInlineBytes {
		s.sum()
	} else {
		go s.sum()
	}
	go s.watch()
	return s, nil
}

// sum computes the stream's CRC (header and data).
func (s *txSnap) sum() {
	defer close(s.crcDone)
	crc := crc32.Update(0, castagnoli, s.head[:])
	buf := make([]byte, 1<<20)
	for off := int64(0); off < s.length; {
		n := min(int64(len(buf)), s.length-off)
		if err := s.dataAt(buf[:n], off); err != nil {
			s.crcErr = err
			return
		}
		crc = crc32.Update(crc, castagnoli, buf[:n])
		off += n
	}
	s.crc = crc
}

// watch spills the snapshot if a read-write transaction runs so long
// that it may be waiting for the remap this transaction holds up.
func (s *txSnap) watch() {
	t := time.NewTicker(spillStall / 3)
	defer t.Stop()
	for {
		select {
		case <-s.watchStop:
			return
		case <-t.C:
		}
		if at := s.e.ts.updating.Load(); at != 0 && time.Since(time.Unix(0, at)) > spillStall {
			s.e.spillServed("a read-write transaction waited", true)
		}
	}
}

// ReadAt reads the stream bytes at off.
func (s *txSnap) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > s.size() {
		return 0, fmt.Errorf("env: snapshot read of %d bytes at %d past its %d bytes", len(p), off, s.size())
	}
	n := 0
	if off < snapHeaderSize {
		n = copy(p, s.head[off:])
	}
	dataEnd := snapHeaderSize + s.length
	if lo, hi := max(off, snapHeaderSize), min(off+int64(len(p)), dataEnd); lo < hi {
		if err := s.dataAt(p[lo-off:hi-off], lo-snapHeaderSize); err != nil {
			return 0, err
		}
		n = int(hi - off)
	}
	if end := off + int64(len(p)); end > dataEnd {
		<-s.crcDone
		if s.crcErr != nil {
			return 0, s.crcErr
		}
		tail := binary.BigEndian.AppendUint32(nil, s.crc)
		lo := max(off, dataEnd)
		copy(p[lo-off:], tail[lo-dataEnd:])
		n = len(p)
	}
	return n, nil
}

// dataAt reads the bbolt bytes at off: meta pages as generated, pages the
// transaction reaches from the file, every other byte zero.
func (s *txSnap) dataAt(p []byte, off int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errSnapClosed
	case s.spilt != nil:
		_, err := s.spilt.ReadAt(p, off)
		return err
	}
	end := off + int64(len(p))
	if m := int64(len(s.meta)); off < m {
		k := copy(p, s.meta[off:])
		p, off = p[k:], off+int64(k)
	}
	at := off // p[:at-off] is filled
	i := sort.Search(len(s.live), func(i int) bool { return s.live[i].end > off })
	for ; i < len(s.live) && s.live[i].off < end; i++ {
		lo, hi := max(off, s.live[i].off), min(end, s.live[i].end)
		clear(p[at-off : lo-off])
		if _, err := s.f.ReadAt(p[lo-off:hi-off], lo); err != nil {
			return fmt.Errorf("env: snapshot read at %d: %w", lo, err)
		}
		at = hi
	}
	clear(p[at-off:])
	return nil
}

// startSpill starts the spill on a goroutine of its own, once.
func (s *txSnap) startSpill(why string) {
	s.spillOnce.Do(func() {
		go func() {
			defer close(s.spillDone)
			began := time.Now()
			err := s.spill()
			switch {
			case errors.Is(err, errSnapClosed): // released meanwhile: nothing to serve
			case err != nil:
				s.e.logger.Warn("env: could not copy a served snapshot to a file; it is no longer served", "err", err)
				s.close()
			default:
				s.e.logger.Info("env: a served snapshot was copied to a file", "why", why, "bytes", s.length,
					"took", time.Since(began).Round(time.Millisecond).String())
			}
		}()
	})
}

// spill copies the bbolt bytes to the spill file and ends the read
// transaction; the stream reads the same afterwards.
func (s *txSnap) spill() error {
	s.mu.Lock()
	done := s.closed || s.spilt != nil
	s.mu.Unlock()
	if done {
		return nil
	}
	f, err := os.OpenFile(s.spillTo, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	buf := make([]byte, 4<<20)
	for off := int64(0); off < s.length; {
		n := min(int64(len(buf)), s.length-off)
		if err = s.dataAt(buf[:n], off); err == nil {
			_, err = f.WriteAt(buf[:n], off)
		}
		if err != nil {
			_ = f.Close()
			_ = os.Remove(s.spillTo)
			return err
		}
		off += n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = f.Close()
		return os.Remove(s.spillTo)
	}
	s.spilt = f
	s.endTx()
	return nil
}

// endTx ends the read transaction and forgets the snapshot in the
// environment's record. Caller holds mu.
func (s *txSnap) endTx() {
	if s.btx == nil {
		return
	}
	_ = s.f.Close()
	_ = s.btx.Rollback()
	s.f, s.btx = nil, nil
	close(s.watchStop)
	e := s.e
	e.ts.mu.Lock()
	delete(e.ts.open, s)
	e.ts.n.Store(int32(len(e.ts.open)))
	e.ts.mu.Unlock()
}

// close ends the snapshot: reads fail from now on.
func (s *txSnap) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.endTx()
	if s.spilt != nil {
		_ = s.spilt.Close()
		_ = os.Remove(s.spillTo)
		s.spilt = nil
	}
}

// Close implements io.Closer: the snapshot is released.
func (s *txSnap) Close() error {
	s.close()
	return nil
}

// livePages walks the bbolt file f from the root bucket named in meta
// (meta page 0 as Tx.WriteTo generates it) and returns the byte extents of
// every page the transaction reaches, with their overflow, merged and
// sorted. npages bounds the page ids.
func livePages(f *os.File, meta []byte, ps, npages int64) ([]extent, error) {
	ne := binary.NativeEndian
	// meta: page header (16), magic, version, pageSize, flags (16), root bucket {root, seq}, freelist, pgid.
	root, freelist := ne.Uint64(meta[32:]), ne.Uint64(meta[48:])
	w := &pageWalker{f: f, ps: ps, npages: npages, buf: make([]byte, ps)}
	w.add(0, 2*ps) // meta pages
	if freelist < uint64(npages) {
		if err := w.walk(freelist, 0, true); err != nil {
			return nil, err
		}
	}
	if err := w.walk(root, 0, false); err != nil {
		return nil, err
	}
	sort.Slice(w.ext, func(i, j int) bool { return w.ext[i].off < w.ext[j].off })
	out := w.ext[:0]
	for _, x := range w.ext {
		if n := len(out); n > 0 && x.off <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, x.end)
			continue
		}
		out = append(out, x)
	}
	return out, nil
}

type pageWalker struct {
	f          *os.File
	ps, npages int64
	buf        []byte
	ext        []extent
}

func (w *pageWalker) add(off, end int64) { w.ext = append(w.ext, extent{off, end}) }

// bbolt page layout (internal/common/page.go): a 16-byte header (id,
// flags, count, overflow) and 16-byte elements: a branch's {pos, ksize,
// pgid}, a leaf's {flags, pos, ksize, vsize}, pos counted from the
// element. A bucket's value starts with its root page id (0: inline).
const (
	pageHead      = 16
	elemSize      = 16
	branchFlag    = 0x01
	leafFlag      = 0x02
	freelistFlag  = 0x10
	bucketElemFlg = 0x01
)

func (w *pageWalker) walk(id uint64, depth int, freelist bool) error {
	ne := binary.NativeEndian
	if depth > 64 || id < 2 || id >= uint64(w.npages) {
		return fmt.Errorf("page %d out of place (depth %d, %d pages)", id, depth, w.npages)
	}
	base := int64(id) * w.ps
	if _, err := w.f.ReadAt(w.buf[:pageHead], base); err != nil {
		return err
	}
	flags, count, overflow := ne.Uint16(w.buf[8:]), int64(ne.Uint16(w.buf[10:])), int64(ne.Uint32(w.buf[12:]))
	if got := ne.Uint64(w.buf); got != id || int64(id)+overflow >= w.npages {
		return fmt.Errorf("page %d: header names page %d with %d overflow pages", id, got, overflow)
	}
	w.add(base, base+(overflow+1)*w.ps)
	if freelist {
		if flags != freelistFlag {
			return fmt.Errorf("freelist page %d has flags %#x", id, flags)
		}
		return nil
	}
	if flags != branchFlag && flags != leafFlag {
		return fmt.Errorf("page %d has flags %#x", id, flags)
	}
	elems := make([]byte, count*elemSize)
	if _, err := w.f.ReadAt(elems, base+pageHead); err != nil {
		return err
	}
	for i := int64(0); i < count; i++ {
		el := elems[i*elemSize:]
		if flags == branchFlag {
			if err := w.walk(ne.Uint64(el[8:]), depth+1, false); err != nil {
				return err
			}
			continue
		}
		if ne.Uint32(el)&bucketElemFlg == 0 {
			continue
		}
		at := base + pageHead + i*elemSize + int64(ne.Uint32(el[4:])) + int64(ne.Uint32(el[8:]))
		if ne.Uint32(el[12:]) < 16 {
			return fmt.Errorf("page %d: bucket value of %d bytes", id, ne.Uint32(el[12:]))
		}
		var v [8]byte
		if _, err := w.f.ReadAt(v[:], at); err != nil {
			return err
		}
		if sub := ne.Uint64(v[:]); sub != 0 {
			if err := w.walk(sub, depth+1, false); err != nil {
				return err
			}
		}
	}
	return nil
}
