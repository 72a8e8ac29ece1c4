package env

// Snapshots in transfer for internal init: the one this site receives
// (kept across a restart, so that the transfer resumes where it stopped)
// and the ones it serves (read transactions on the data file, snaptx.go,
// taken off the replication loop, which sends heartbeats meanwhile).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"logship/rep"
)

// partialSyncBytes: a snapshot being received is fsynced, and how much of
// it is durable recorded, every this many bytes. A restart resumes from
// the last such point; an fsync per 32 MiB costs nothing next to the copy.
const partialSyncBytes = 32 << 20

// incoming is the snapshot this site is receiving. The stream (see
// Env.Snapshot: a header, the bbolt file, a CRC-32C) is taken apart as
// it arrives: the bbolt bytes go straight into the file that becomes the
// data file, so an install copies nothing; header and trailer are kept
// aside; the CRC is folded in as the bytes come in order.
type incoming struct {
	info    rep.SnapInfo
	f       *os.File // the bbolt bytes; nil until opened (after a restart: on resume)
	written int64    // stream bytes written from the start, in order
	synced  int64    // stream bytes known durable (recorded in the .info file); under mu
	head    [snapHeaderSize]byte
	tail    [4]byte
	crc     hash.Hash32
	crcEnd  int64 // stream bytes folded into crc: header and data, in order

	// A save of the durable point runs beside the transfer (saveAsync):
	// saving is closed when it is done; mu guards what it sets.
	saving  chan struct{}
	mu      sync.Mutex
	saveErr error
}

func (r *Replica) snapPath(dir string, id uint64) string {
	return filepath.Join(r.e.dir, dir+"."+strconv.FormatUint(id, 10))
}

func (r *Replica) infoPath(id uint64) string { return r.snapPath("snap-in", id) + ".info" }

// PartialInit reports a snapshot this site had partly received when it
// last stopped, and how many of its bytes are durable here: pass it as
// rep.Config.Resume, and the init resumes there if the site serving it
// still offers the same snapshot.
func (r *Replica) PartialInit() (rep.InitResume, bool) {
	if r.in == nil || r.in.durable() <= 0 {
		return rep.InitResume{}, false
	}
	return rep.InitResume{Snap: r.in.info, Offset: r.in.durable()}, true
}

// findPartial looks for a snapshot left half received by an earlier run,
// keeps the newest one whose record of durable bytes reads back sound,
// and removes every other snapshot file: served ones (snap-out) are taken
// anew when needed.
func (r *Replica) findPartial() *incoming {
	names, _ := filepath.Glob(filepath.Join(r.e.dir, "snap-*"))
	var keep *incoming
	for _, name := range names {
		base := filepath.Base(name)
		if !strings.HasPrefix(base, "snap-in.") || !strings.HasSuffix(base, ".info") {
			continue
		}
		in, err := readPartial(name)
		if err != nil {
			r.e.logger.Warn("env: a partly received snapshot cannot be resumed", "file", name, "err", err)
			continue
		}
		if fi, err := os.Stat(strings.TrimSuffix(name, ".info")); err != nil || fi.Size() < dataBytes(in.synced, in.info.Size) {
			continue
		}
		if keep == nil || keep.info.ID < in.info.ID {
			keep = in
		}
	}
	for _, name := range names {
		if keep != nil && strings.TrimSuffix(name, ".info") == r.snapPath("snap-in", keep.info.ID) {
			continue
		}
		_ = os.Remove(name)
	}
	if keep != nil {
		r.e.logger.Info("env: found a partly received snapshot; an internal init resumes from it if it is offered again",
			"snapshot", keep.info.ID, "lsn", keep.info.LSN.String(), "bytes", keep.synced, "size", keep.info.Size)
	}
	return keep
}

// dataBytes is how many bytes of the bbolt file the first n bytes of a
// stream of size bytes hold.
func dataBytes(n, size int64) int64 {
	return max(0, min(n, size-4)-snapHeaderSize)
}

// The .info record: snapshot ID, LSN, size, durable bytes, the stream's
// header and trailer (as far as received), CRC-32C of the rest.
const partialInfoSize = 8 + 8 + 8 + 8 + snapHeaderSize + 4 + 4

func encodePartial(in *incoming, synced int64) []byte {
	b := make([]byte, 0, partialInfoSize)
	b = binary.BigEndian.AppendUint64(b, in.info.ID)
	b = putLSN(b, in.info.LSN)
	b = binary.BigEndian.AppendUint64(b, uint64(in.info.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(synced))
	b = append(b, in.head[:]...)
	b = append(b, in.tail[:]...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func readPartial(path string) (*incoming, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) != partialInfoSize || crc32.Checksum(b[:partialInfoSize-4], castagnoli) != binary.BigEndian.Uint32(b[partialInfoSize-4:]) {
		return nil, errors.New("damaged record of the bytes received")
	}
	in := &incoming{info: rep.SnapInfo{
		ID:   binary.BigEndian.Uint64(b),
		LSN:  getLSN(b[8:]),
		Size: int64(binary.BigEndian.Uint64(b[16:])),
	}}
	in.synced = int64(binary.BigEndian.Uint64(b[24:]))
	in.written = in.synced
	copy(in.head[:], b[32:])
	copy(in.tail[:], b[32+snapHeaderSize:])
	if in.info.ID == 0 || in.info.Size < snapHeaderSize+4 || in.synced < 0 || in.synced > in.info.Size {
		return nil, errors.New("implausible record of the bytes received")
	}
	return in, nil
}

// saveAsync fsyncs the snapshot received so far and records how much of
// it is durable, on a goroutine of its own: an fsync of 32 MiB of fresh
// data takes tens of ms, and the loop that called WriteChunk serves the
// transfer (and, on a master-to-be, everything else). One save runs at
// a time; the record is written to a temporary file, fsynced and renamed,
// so it is never torn.
func (r *Replica) saveAsync() {
	in := r.in
	if in.saving != nil {
		return
	}
	at, f, path, rec := in.written, in.f, r.infoPath(in.info.ID), encodePartial(in, in.written)
	done := make(chan struct{})
	in.saving = done
	go func() {
		defer close(done)
		err := f.Sync()
		if err == nil {
			err = writeFileSynced(path, rec)
		}
		in.mu.Lock()
		defer in.mu.Unlock()
		if err != nil {
			in.saveErr = err
			return
		}
		in.synced = at
	}()
}

// saveDone reports the end of a save in progress (waiting for it if
// wait), and its error.
func (in *incoming) saveDone(wait bool) error {
	if in.saving != nil {
		if !wait {
			select {
			case <-in.saving:
			default:
				return nil
			}
		}
		<-in.saving
		in.saving = nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.saveErr
}

// durable is how many bytes of the stream are known durable.
func (in *incoming) durable() int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.synced
}

// writeFileSynced writes b to path through a temporary file, fsynced and
// renamed over it.
func writeFileSynced(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	return err
}

// dropIncoming forgets the snapshot being received and removes its files.
func (r *Replica) dropIncoming() {
	if r.in == nil {
		return
	}
	_ = r.in.saveDone(true)
	if r.in.f != nil {
		_ = r.in.f.Close()
	}
	_ = os.Remove(r.snapPath("snap-in", r.in.info.ID))
	_ = os.Remove(r.infoPath(r.in.info.ID))
	r.in = nil
}

// received checks the completely received snapshot info (header, size),
// makes its data file durable and checks the file's CRC, read back from
// it; the file is then ready to be installed as it is.
func (r *Replica) received(info rep.SnapInfo) (snapHeader, error) {
	in := r.in
	if in == nil || in.info != info || in.written != info.Size {
		return snapHeader{}, fmt.Errorf("%w: snapshot %d was never received", ErrBadSnapshot, info.ID)
	}
	_ = in.saveDone(true) // the whole file is fsynced below
	h, err := decodeSnapHeader(in.head[:])
	if err != nil {
		return h, err
	}
	if h.applied != info.LSN {
		return h, fmt.Errorf("%w: it reflects %s, expected %s", ErrBadSnapshot, h.applied, info.LSN)
	}
	if snapHeaderSize+h.length+4 != info.Size {
		return h, fmt.Errorf("%w: %d bytes of data in a snapshot of %d bytes", ErrBadSnapshot, h.length, info.Size)
	}
	if in.f == nil { // received before a restart
		if in.f, err = os.OpenFile(r.snapPath("snap-in", info.ID), os.O_RDWR, 0o644); err != nil {
			return h, fmt.Errorf("env: install snapshot: %w", err)
		}
	}
	stored := binary.BigEndian.Uint32(in.tail[:])
	// Folded in order as the chunks came (not after a resume or a chunk
	// sent again), the checksum tells damage in transit from damage here.
	if in.crc != nil && in.crcEnd == info.Size-4 {
		if got := in.crc.Sum32(); got != stored {
			return h, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrBadSnapshot, stored, got)
		}
	}
	if err := in.f.Truncate(h.length); err != nil {
		return h, fmt.Errorf("env: install snapshot: %w", err)
	}
	if err := in.f.Sync(); err != nil {
		return h, fmt.Errorf("env: install snapshot: %w", err)
	}
	// What is installed is the file, not the bytes that came: read it
	// back whole, so that a chunk written to the wrong place or a file
	// changed since is refused, not made the site's data.
	crc := crc32.New(castagnoli)
	crc.Write(in.head[:])
	if _, err := io.Copy(crc, io.NewSectionReader(in.f, 0, h.length)); err != nil {
		return h, fmt.Errorf("env: install snapshot: read back: %w", err)
	}
	if got := crc.Sum32(); got != stored {
		what := "checksum mismatch"
		if in.crc != nil && in.crcEnd == info.Size-4 {
			what = "received intact, but the file reads back different: this disk or file system changed it"
		}
		return h, fmt.Errorf("%w: %s (stored %08x, computed %08x)", ErrBadSnapshot, what, stored, got)
	}
	err = in.f.Close()
	in.f = nil
	return h, err
}

// WriteChunk carries out one Ready.Chunks entry: it writes c.Data at
// c.Offset of the snapshot being received. Offset 0, or another
// snapshot, starts anew (dropping the one before); a chunk that continues
// the snapshot received in part before a restart reopens its file.
func (r *Replica) WriteChunk(c rep.Chunk) error {
	in := r.in
	resume := in != nil && in.info == c.Snap && c.Offset > 0 && c.Offset <= in.written
	if !resume {
		r.dropIncoming()
		if c.Offset != 0 {
			return fmt.Errorf("%w: chunk of snapshot %d at %d, but nothing of it was received before", ErrBadSnapshot, c.Snap.ID, c.Offset)
		}
		if c.Snap.Size < snapHeaderSize+4 {
			return fmt.Errorf("%w: a snapshot of %d bytes", ErrBadSnapshot, c.Snap.Size)
		}
		if err := r.e.checkSpace(c.Snap.Size); err != nil {
			return fmt.Errorf("env: internal init from a snapshot of %d bytes: %w", c.Snap.Size, err)
		}
		f, err := os.OpenFile(r.snapPath("snap-in", c.Snap.ID), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("env: snapshot chunk: %w", err)
		}
		in = &incoming{info: c.Snap, f: f, crc: crc32.New(castagnoli)}
		r.in = in
	} else if in.f == nil {
		f, err := os.OpenFile(r.snapPath("snap-in", c.Snap.ID), os.O_RDWR, 0o644)
		if err != nil {
			return fmt.Errorf("env: resume snapshot %d: %w", c.Snap.ID, err)
		}
		in.f = f
		r.e.logger.Info("env: resuming a snapshot transfer", "snapshot", c.Snap.ID, "offset", c.Offset, "size", c.Snap.Size)
	}
	if err := in.write(c.Offset, c.Data); err != nil {
		return fmt.Errorf("env: snapshot chunk at %d: %w", c.Offset, err)
	}
	if err := in.saveDone(false); err != nil {
		return fmt.Errorf("env: recording the snapshot bytes received: %w", err)
	}
	if in.written-in.durable() >= partialSyncBytes && in.written < in.info.Size {
		r.saveAsync()
	}
	return nil
}

// write puts the stream bytes d at offset off where they belong: header,
// data file or trailer.
func (in *incoming) write(off int64, d []byte) error {
	end := off + int64(len(d))
	if end > in.info.Size {
		return fmt.Errorf("%w: %d bytes past the end of a snapshot of %d", ErrBadSnapshot, end-in.info.Size, in.info.Size)
	}
	dataEnd := in.info.Size - 4
	if off < snapHeaderSize {
		copy(in.head[off:], d)
	}
	if lo, hi := max(off, snapHeaderSize), min(end, dataEnd); lo < hi {
		if _, err := in.f.WriteAt(d[lo-off:hi-off], lo-snapHeaderSize); err != nil {
			return err
		}
	}
	if end > dataEnd {
		lo := max(off, dataEnd)
		copy(in.tail[lo-dataEnd:], d[lo-off:])
	}
	// Fold what follows crcEnd into the CRC; a gap leaves it to received.
	if in.crc != nil && off <= in.crcEnd {
		if hi := min(end, dataEnd); hi > in.crcEnd {
			in.crc.Write(d[in.crcEnd-off : hi-off])
			in.crcEnd = hi
		}
	}
	in.written = end
	return nil
}

// SnapshotJob is a snapshot to take for Ready.TakeSnapshot: the loop
// names it (PrepareSnapshot), any goroutine takes it (Take), and the loop
// hands the result back to the Replica (Adopt) before SnapshotTaken.
type SnapshotJob struct {
	e    *Env
	id   uint64
	path string
}

// PrepareSnapshot names the next snapshot to serve. Loop goroutine only.
func (r *Replica) PrepareSnapshot() SnapshotJob {
	id := uint64(time.Now().UnixNano())
	if id <= r.lastID {
		id = r.lastID + 1
	}
	r.lastID = id
	return SnapshotJob{e: r.e, id: id, path: r.snapPath("snap-out", id)}
}

// Take takes the snapshot: a read transaction on the data file, served
// in place (Env.serveSnapshot). Safe on any goroutine: it only reads the
// environment, and commits go on meanwhile.
func (j SnapshotJob) Take() (*TakenSnapshot, error) {
	s, at, err := j.e.serveSnapshot(j.path)
	if err != nil {
		return nil, err
	}
	return &TakenSnapshot{Info: rep.SnapInfo{ID: j.id, LSN: at, Size: s.size()}, Reader: s, s: s}, nil
}

// TakenSnapshot is a snapshot taken for Ready.TakeSnapshot: hand it to
// the node with SnapshotTaken (and ReleaseSnapshot it if the node
// refuses it).
type TakenSnapshot struct {
	Info   rep.SnapInfo
	Reader rep.SnapshotReader
	s      *txSnap
}

// Discard releases a snapshot that was never adopted (the loop ended
// while it was being taken).
func (t *TakenSnapshot) Discard() { t.s.close() }

// Adopt makes a taken snapshot one this Replica serves, until
// ReleaseSnapshot. Loop goroutine only.
func (r *Replica) Adopt(t *TakenSnapshot) { r.served[t.Info.ID] = t.s }

// TakeSnapshot takes a snapshot for Ready.TakeSnapshot at once, on the
// caller's goroutine (PrepareSnapshot, Take, Adopt).
func (r *Replica) TakeSnapshot() (*TakenSnapshot, error) {
	t, err := r.PrepareSnapshot().Take()
	if err != nil {
		return nil, err
	}
	r.Adopt(t)
	return t, nil
}

// ReleaseSnapshot carries out one of Ready.ReleaseSnapshots: the read
// transaction ends (or the file it was copied to is deleted).
func (r *Replica) ReleaseSnapshot(id uint64) error {
	s := r.served[id]
	if s == nil {
		return nil
	}
	delete(r.served, id)
	s.close()
	return nil
}

// Close releases the files the Replica holds: the snapshots it serves
// are deleted; the one it receives is kept, with the record of how much
// of it is durable, so that a restart resumes the transfer.
func (r *Replica) Close() {
	r.dropReader()
	if in := r.in; in != nil && in.f != nil {
		err := in.saveDone(true)
		if err == nil && in.written > in.durable() {
			r.saveAsync()
			err = in.saveDone(true)
		}
		if err != nil {
			r.e.logger.Warn("env: could not record how much of a snapshot was received; the transfer starts over after a restart", "err", err)
		}
		_ = in.f.Close()
		in.f = nil
	}
	for id := range r.served {
		_ = r.ReleaseSnapshot(id)
	}
}
