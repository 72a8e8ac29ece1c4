package env

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"logship/wal/lsn"
)

// Snapshot stream format (see doc.go). Format constants.
const (
	snapMagic      = "LSHPSNAP" // format: first 8 bytes
	snapVersion    = 1          // format
	snapHeaderSize = 48         // format: magic, version, reserved, applied, end, gen, length
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapHeader is the decoded header of a snapshot stream.
type snapHeader struct {
	applied, end lsn.LSN
	gen          uint64
	length       int64 // bytes of the bbolt file that follow
}

func (h snapHeader) encode() []byte {
	b := make([]byte, 0, snapHeaderSize)
	b = append(b, snapMagic...)
	b = binary.BigEndian.AppendUint32(b, snapVersion)
	b = binary.BigEndian.AppendUint32(b, 0) // reserved
	b = putLSN(b, h.applied)
	b = putLSN(b, h.end)
	b = binary.BigEndian.AppendUint64(b, h.gen)
	return binary.BigEndian.AppendUint64(b, uint64(h.length))
}

func decodeSnapHeader(b []byte) (snapHeader, error) {
	if len(b) != snapHeaderSize {
		return snapHeader{}, fmt.Errorf("%w: header of %d bytes", ErrBadSnapshot, len(b))
	}
	if string(b[:8]) != snapMagic {
		return snapHeader{}, fmt.Errorf("%w: bad magic %q", ErrBadSnapshot, b[:8])
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != snapVersion {
		return snapHeader{}, fmt.Errorf("%w: unsupported version %d", ErrBadSnapshot, v)
	}
	h := snapHeader{
		applied: getLSN(b[16:]),
		end:     getLSN(b[24:]),
		gen:     binary.BigEndian.Uint64(b[32:]),
		length:  int64(binary.BigEndian.Uint64(b[40:])),
	}
	if h.length <= 0 || h.length > 1<<50 {
		return snapHeader{}, fmt.Errorf("%w: data length %d", ErrBadSnapshot, h.length)
	}
	return h, nil
}

// Snapshot writes a consistent copy of the applied data to w and returns
// the LSN of the last record it reflects. It first lets the applier apply
// every commit made before the call (with Config.MinApplyDelay, those
// due: the snapshot reflects the delayed data). The stream is a header (magic,
// version, applied LSN, the position after it, its generation, data
// length), a copy of the bbolt file taken in one read transaction, and a
// CRC-32C of everything before it. InstallSnapshot reads it.
//
// The copy is taken inside a bbolt read transaction; a slow w delays the
// applier only when the data file must grow meanwhile.
func (e *Env) Snapshot(w io.Writer) (lsn.LSN, error) {
	if err := e.enter(); err != nil {
		return lsn.Zero, err
	}
	defer e.exit()
	last := e.log.Last()
	if err := e.log.Sync(last); err != nil {
		return lsn.Zero, e.fail(fmt.Errorf("env: log sync at %s: %w", last, err))
	}
	if err := e.waitDue(context.Background(), last); err != nil {
		return lsn.Zero, err
	}
	e.dbMu.RLock()
	defer e.dbMu.RUnlock()
	var h snapHeader
	err := e.db.View(func(btx *bolt.Tx) error {
		var err error
		if h, err = e.snapHeaderOf(btx); err != nil {
			return err
		}
		crc := crc32.New(castagnoli)
		bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 256<<10)
		if _, err := bw.Write(h.encode()); err != nil {
			return err
		}
		n, err := btx.WriteTo(bw)
		if err != nil {
			return err
		}
		if n != h.length {
			return fmt.Errorf("wrote %d bytes of data, expected %d", n, h.length)
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		_, err = w.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
		return err
	})
	if err != nil {
		return lsn.Zero, fmt.Errorf("env: snapshot: %w", err)
	}
	return h.applied, nil
}

// snapHeaderOf is the header of a snapshot of btx.
func (e *Env) snapHeaderOf(btx *bolt.Tx) (snapHeader, error) {
	m, err := readMeta(btx)
	if err != nil {
		return snapHeader{}, err
	}
	h := snapHeader{applied: m.applied, end: m.appliedEnd, gen: m.appliedGen, length: btx.Size()}
	if h.end.IsZero() { // nothing applied yet: the copy continues at the log's start
		if h.end = e.log.First(); h.end.IsZero() {
			h.end = e.log.End()
		}
	}
	return h, nil
}

// serveSnapshot is Snapshot served in place (snaptx.go): the stream is
// read from a read transaction on the data file for as long as it is
// served, not copied first. spillTo is the file it is copied to if the
// transaction must end early. Close the result to release it.
func (e *Env) serveSnapshot(spillTo string) (*txSnap, lsn.LSN, error) {
	if err := e.enter(); err != nil {
		return nil, lsn.Zero, err
	}
	defer e.exit()
	last := e.log.Last()
	if err := e.log.Sync(last); err != nil {
		return nil, lsn.Zero, e.fail(fmt.Errorf("env: log sync at %s: %w", last, err))
	}
	if err := e.waitApplied(context.Background(), last); err != nil {
		return nil, lsn.Zero, err
	}
	e.dbMu.RLock()
	defer e.dbMu.RUnlock()
	btx, err := e.db.Begin(false)
	if err != nil {
		return nil, lsn.Zero, fmt.Errorf("env: snapshot: %w", err)
	}
	h, err := e.snapHeaderOf(btx)
	if err != nil {
		_ = btx.Rollback()
		return nil, lsn.Zero, fmt.Errorf("env: snapshot: %w", err)
	}
	s, err := e.newTxSnap(btx, h, spillTo)
	if err != nil {
		return nil, lsn.Zero, err
	}
	return s, h.applied, nil
}

// InstallSnapshot replaces the environment's data with the snapshot read
// from r, which must reflect the record at `at`, and empties the log so that
// it continues from the position after that record. Updates wait and the
// applier stops meanwhile. Everything the environment held is discarded.
//
// The stream goes to a temporary file that is checked (header, length,
// CRC) and fsynced; a marker "reset the log" is set in it; then it is
// renamed over the data file and the log is reset. A crash after the rename
// is finished by Open; one before it leaves the old data.
func (e *Env) InstallSnapshot(r io.Reader, at lsn.LSN) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	tmp := filepath.Join(e.dir, dataTmpName)
	h, err := receiveSnapshot(r, tmp, at)
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return e.installData(tmp, h)
}

// installFile is installData for a caller outside the environment's
// methods (the Replica, which received the data file itself).
func (e *Env) installFile(tmp string, h snapHeader) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	return e.installData(tmp, h)
}

// installData makes the bbolt file at tmp, which a snapshot with header
// h delivered (checked and fsynced, in the environment's directory), the
// environment's data, and empties the log so that it continues from the
// position after h.applied. tmp is renamed over the data file or
// removed.
func (e *Env) installData(tmp string, h snapHeader) error {
	e.ctl.Lock()
	defer e.ctl.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.failure(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	// Commits appended before the install become durable (then are
	// discarded with the rest), so that no Update waits for a record the
	// reset drops.
	if last := e.log.Last(); !last.IsZero() {
		if err := e.log.Sync(last); err != nil {
			return e.fail(fmt.Errorf("env: log sync at %s: %w", last, err))
		}
	}
	e.ap.mu.Lock()
	defer e.ap.mu.Unlock()

	shared, err := markInstall(tmp, h)
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}

	// Swap the data file. From here on a failure is fatal for this
	// process; Open finishes the install from the marker.
	e.endServed()
	e.dbMu.Lock()
	err = func() error {
		e.rc.drop()
		if err := e.db.Close(); err != nil {
			return fmt.Errorf("close data file: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(e.dir, dataName)); err != nil {
			return err
		}
		if err := syncDir(e.dir); err != nil {
			return err
		}
		db, err := openBolt(filepath.Join(e.dir, dataName), e.cfg.mmapSize())
		if err != nil {
			return err
		}
		e.db = db
		e.noteOpened(filepath.Join(e.dir, dataName))
		return nil
	}()
	e.dbMu.Unlock()
	if err != nil {
		return e.fail(fmt.Errorf("env: install snapshot: %w", err))
	}
	if hk := e.cfg.hooks; hk != nil && hk.afterInstallSwap != nil {
		if err := hk.afterInstallSwap(); err != nil {
			return e.fail(err)
		}
	}
	e.newEpoch()
	if err := e.log.Reset(h.end); err != nil {
		return e.fail(fmt.Errorf("env: install snapshot: reset log to %s: %w", h.end, err))
	}
	if err := e.clearMarker(keyInstall); err != nil {
		return e.fail(err)
	}
	e.ap.reset(lsn.Zero, h.end)
	// The installed file's shared record is its source's, capped at the
	// snapshot (markInstall), and is this site's from now on.
	e.shared.Store(packLSN(shared))
	e.ap.sharedSaved = shared
	e.delayCut(h.applied)
	e.ov.reset()
	e.gen = h.gen
	digest, err := e.storedDigest()
	if err != nil {
		return e.fail(fmt.Errorf("env: install snapshot: %w", err))
	}
	e.amu.Lock()
	e.recent = digestRing{}
	e.amu.Unlock()
	e.publishApplied(h.applied, h.end, h.gen, digest)
	e.logger.Info("env: installed snapshot", "applied", h.applied, "next", h.end)
	return nil
}

// receiveSnapshot copies a snapshot stream to path, checking it, and
// fsyncs the file.
func receiveSnapshot(r io.Reader, path string, at lsn.LSN) (snapHeader, error) {
	hb := make([]byte, snapHeaderSize)
	if _, err := io.ReadFull(r, hb); err != nil {
		return snapHeader{}, fmt.Errorf("%w: header: %w", ErrBadSnapshot, err)
	}
	h, err := decodeSnapHeader(hb)
	if err != nil {
		return h, err
	}
	if h.applied != at {
		return h, fmt.Errorf("%w: it reflects %s, expected %s", ErrBadSnapshot, h.applied, at)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return h, fmt.Errorf("env: install snapshot: %w", err)
	}
	defer f.Close()
	crc := crc32.New(castagnoli)
	crc.Write(hb)
	if err := copyData(f, r, crc, h.length); err != nil {
		return h, err
	}
	tb := make([]byte, 4)
	if _, err := io.ReadFull(r, tb); err != nil {
		return h, fmt.Errorf("%w: trailer: %w", ErrBadSnapshot, err)
	}
	if got, want := binary.BigEndian.Uint32(tb), crc.Sum32(); got != want {
		return h, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrBadSnapshot, got, want)
	}
	if err := f.Sync(); err != nil {
		return h, fmt.Errorf("env: install snapshot: %w", err)
	}
	return h, f.Close()
}

func copyData(f *os.File, r io.Reader, crc hash.Hash32, n int64) error {
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 256<<10)
	if _, err := io.CopyN(w, r, n); err != nil {
		return fmt.Errorf("%w: data: %w", ErrBadSnapshot, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("env: install snapshot: %w", err)
	}
	return nil
}

// markInstall opens the received data file and sets it up as this
// environment's: the install marker set, no rollback marker, the
// checkpoint at the snapshot. It returns the shared record the file now
// keeps (shared.go).
func markInstall(path string, h snapHeader) (lsn.LSN, error) {
	db, err := bolt.Open(path, 0o644, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return lsn.Zero, fmt.Errorf("%w: open: %w", ErrBadSnapshot, err)
	}
	var shared lsn.LSN
	err = db.Update(func(btx *bolt.Tx) error {
		if btx.Bucket(bucketData) == nil || btx.Bucket(bucketMeta) == nil {
			return fmt.Errorf("%w: not an environment's data file", ErrBadSnapshot)
		}
		mb := btx.Bucket(bucketMeta)
		if err := mb.Delete(keyTruncate); err != nil {
			return err
		}
		if err := putApplied(mb, h.applied, h.end, h.gen); err != nil {
			return err
		}
		if err := putCheckpoint(mb, h.applied, h.end); err != nil {
			return err
		}
		// The source's shared record, at most the snapshot's: the log
		// starts after it.
		var err error
		if shared, err = capShared(mb, h.applied); err != nil {
			return err
		}
		return putMarker(mb, keyInstall, h.end)
	})
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return lsn.Zero, fmt.Errorf("env: install snapshot: %w", err)
	}
	return shared, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
