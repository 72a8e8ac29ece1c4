package env

// Rollback files.
//
// Before replication rolls a client's log back to the sync point with a
// new master (Replica.Rollback), the records it is about to undo are
// written, oldest first, to a new file in <dir>/rollback/, named
// rollback-<UTC time>-<to>.lsrb, and fsynced with the directory. Nothing
// committed locally is thrown away silently: an operator reads the file
// (repadmin log dump, which calls ReadRollbackFile) and may re-apply the
// writes by hand ([RollbackRecord.Ops] gives each put or delete with its
// before-image).
//
// Format (integers big-endian; CRC is CRC-32C):
//
//	header, 56 bytes:
//	+------------+---------+----------+--------+------------+--------+--------+-------+-------+
//	| "LSHPRBCK" | version | count    | site   | time (unix | to LSN | from   | zero  | CRC   |
//	| 8 bytes    | u32 = 1 | u32      | u64    | nanos) i64 | (8)    | LSN (8)| u32   | u32   |
//	+------------+---------+----------+--------+------------+--------+--------+-------+-------+
//	then `count` records, oldest first, each:
//	+---------+---------+--------------+--------------+-----------+---------------+
//	| LSN (8) | gen u64 | wal CRC u32  | length u32   | payload   | CRC u32 of    |
//	|         |         | (identity)   |              | (length)  | all before it |
//	+---------+---------+--------------+--------------+-----------+---------------+
//
// An LSN is its file then its offset, a u32 each. The payload is the env
// record (doc.go, "Record format"): every write with its before-image.
// The header CRC covers bytes [0:52]. The decoder checks every CRC, the
// count and the lengths, and never panics on bad input.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"logship/wal/lsn"
)

// Rollback file format constants.
const (
	rbMagic        = "LSHPRBCK" // format
	rbVersion      = 1          // format
	rbHeaderSize   = 56         // format
	rbRecFixed     = 24         // format: LSN, gen, wal CRC, length
	rbMaxPayload   = 1 << 30    // decoder bound on one payload
	rollbackDir    = "rollback"
	rollbackSuffix = ".lsrb"
)

// ErrBadRollbackFile is wrapped by every ReadRollbackFile decoding error.
var ErrBadRollbackFile = errors.New("env: bad rollback file")

// RollbackHeader describes one rollback: which site, when, and the log
// range undone (the records after To, up to and including From).
type RollbackHeader struct {
	Site  uint64
	Time  time.Time
	To    lsn.LSN
	From  lsn.LSN
	Count uint32
}

// RollbackRecord is one rolled-back log record.
type RollbackRecord struct {
	LSN      lsn.LSN
	Gen      uint64 // generation of the master that wrote it
	Checksum uint32 // the wal's CRC: with LSN and Gen, its identity
	Payload  []byte // the env record: writes with before-images
}

// Op is one write of a logged transaction, with its before-image: what an
// operator needs to re-apply (or undo) it by hand.
type Op struct {
	Delete  bool
	Bucket  []byte
	Key     []byte
	Value   []byte // the value put (not for Delete)
	Existed bool   // the key existed before the write
	Old     []byte // its value before the write, when Existed
}

// Ops decodes the record's writes, in commit order.
func (r RollbackRecord) Ops() (time.Time, []Op, error) {
	_, at, ops, err := DecodeLogRecord(r.Payload)
	return at, ops, err
}

// DecodeLogRecord decodes the payload of one of the environment's log
// records (as repadmin log dump shows it): the generation of the master that
// wrote it, its commit time and its writes in commit order. Malformed input
// is an error wrapping ErrCorrupt.
func DecodeLogRecord(payload []byte) (gen uint64, at time.Time, ops []Op, err error) {
	d, err := decodeRecord(payload)
	if err != nil {
		return 0, time.Time{}, nil, err
	}
	ops = make([]Op, len(d.ops))
	for i, o := range d.ops {
		ops[i] = Op{Delete: o.kind == opDelete, Bucket: o.bucket, Key: o.key, Value: o.value, Existed: o.existed, Old: o.old}
	}
	return d.gen, time.Unix(0, d.time), ops, nil
}

func (h RollbackHeader) encode() []byte {
	b := make([]byte, 0, rbHeaderSize)
	b = append(b, rbMagic...)
	b = binary.BigEndian.AppendUint32(b, rbVersion)
	b = binary.BigEndian.AppendUint32(b, h.Count)
	b = binary.BigEndian.AppendUint64(b, h.Site)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Time.UnixNano()))
	b = putLSN(b, h.To)
	b = putLSN(b, h.From)
	b = binary.BigEndian.AppendUint32(b, 0)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// RollbackFiles lists the rollback files of the environment in dir,
// oldest first.
func RollbackFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, rollbackDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), rollbackSuffix) {
			out = append(out, filepath.Join(dir, rollbackDir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// writeRollbackFile writes recs to a new rollback file under dir and
// makes it durable (file and directory).
func writeRollbackFile(dir string, h RollbackHeader, recs []RollbackRecord) (string, error) {
	rd := filepath.Join(dir, rollbackDir)
	if err := os.MkdirAll(rd, 0o755); err != nil {
		return "", fmt.Errorf("env: rollback file: %w", err)
	}
	name := fmt.Sprintf("rollback-%s-%d.%d%s", h.Time.UTC().Format("20060102T150405.000000000"), h.To.File, h.To.Offset, rollbackSuffix)
	path := filepath.Join(rd, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("env: rollback file: %w", err)
	}
	err = func() error {
		w := bufio.NewWriterSize(f, 256<<10)
		if _, err := w.Write(h.encode()); err != nil {
			return err
		}
		var b []byte
		for _, r := range recs {
			b = putLSN(b[:0], r.LSN)
			b = binary.BigEndian.AppendUint64(b, r.Gen)
			b = binary.BigEndian.AppendUint32(b, r.Checksum)
			b = binary.BigEndian.AppendUint32(b, uint32(len(r.Payload)))
			crc := crc32.Update(crc32.Checksum(b, castagnoli), castagnoli, r.Payload)
			if _, err := w.Write(b); err != nil {
				return err
			}
			if _, err := w.Write(r.Payload); err != nil {
				return err
			}
			if _, err := w.Write(binary.BigEndian.AppendUint32(nil, crc)); err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return f.Sync()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(rd)
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("env: rollback file %s: %w", path, err)
	}
	return path, nil
}

// ReadRollbackFile reads the rollback file at path, calling visit with
// its header and each record, oldest first. An error from visit stops the
// scan and is returned. A damaged or truncated file is an error wrapping
// ErrBadRollbackFile, after visit has seen the good records before the
// damage.
func ReadRollbackFile(path string, visit func(RollbackHeader, RollbackRecord) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("env: rollback file: %w", err)
	}
	defer f.Close()
	if err := DecodeRollbackFile(bufio.NewReaderSize(f, 256<<10), visit); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// DecodeRollbackFile is ReadRollbackFile over a stream.
func DecodeRollbackFile(r io.Reader, visit func(RollbackHeader, RollbackRecord) error) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadRollbackFile, fmt.Sprintf(format, args...))
	}
	hb := make([]byte, rbHeaderSize)
	if _, err := io.ReadFull(r, hb); err != nil {
		return bad("header: %v", err)
	}
	if string(hb[:8]) != rbMagic {
		return bad("magic %q", hb[:8])
	}
	if got, want := binary.BigEndian.Uint32(hb[52:]), crc32.Checksum(hb[:52], castagnoli); got != want {
		return bad("header checksum %08x, computed %08x", got, want)
	}
	if v := binary.BigEndian.Uint32(hb[8:]); v != rbVersion {
		return bad("version %d", v)
	}
	h := RollbackHeader{
		Count: binary.BigEndian.Uint32(hb[12:]),
		Site:  binary.BigEndian.Uint64(hb[16:]),
		Time:  time.Unix(0, int64(binary.BigEndian.Uint64(hb[24:]))),
		To:    getLSN(hb[32:]),
		From:  getLSN(hb[40:]),
	}
	fixed := make([]byte, rbRecFixed)
	var payload []byte
	for i := uint32(0); i < h.Count; i++ {
		if _, err := io.ReadFull(r, fixed); err != nil {
			return bad("record %d of %d: %v", i, h.Count, err)
		}
		n := binary.BigEndian.Uint32(fixed[20:])
		if n > rbMaxPayload {
			return bad("record %d: payload length %d", i, n)
		}
		// Grow as the bytes arrive, so a lying length cannot make us
		// allocate a gigabyte for a short file.
		payload = payload[:0]
		lr := io.LimitReader(r, int64(n))
		buf := make([]byte, 0, min(n, 64<<10))
		for uint32(len(payload)) < n {
			k, err := lr.Read(buf[:cap(buf)])
			payload = append(payload, buf[:k]...)
			if err != nil {
				break
			}
		}
		if uint32(len(payload)) != n {
			return bad("record %d: payload truncated (%d of %d bytes)", i, len(payload), n)
		}
		tb := make([]byte, 4)
		if _, err := io.ReadFull(r, tb); err != nil {
			return bad("record %d: checksum: %v", i, err)
		}
		want := crc32.Update(crc32.Checksum(fixed, castagnoli), castagnoli, payload)
		if got := binary.BigEndian.Uint32(tb); got != want {
			return bad("record %d: checksum %08x, computed %08x", i, got, want)
		}
		rec := RollbackRecord{
			LSN:      getLSN(fixed),
			Gen:      binary.BigEndian.Uint64(fixed[8:]),
			Checksum: binary.BigEndian.Uint32(fixed[16:]),
			Payload:  append([]byte(nil), payload...),
		}
		if visit != nil {
			if err := visit(h, rec); err != nil {
				return err
			}
		}
	}
	return nil
}
