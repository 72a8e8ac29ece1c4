package env

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Record format (see doc.go for the diagram). These constants are part of the
// on-disk format: changing one is a format change and needs a new
// recordVersion.
const (
	recordVersion byte = 1 // format: the only version written and read

	kindCommit byte = 1 // format: a committed transaction
	// kind 2 is reserved for a checkpoint record; kinds >= 3 for
	// replication (e.g. a new-generation marker).

	opPut    byte = 1 // format: put key = value
	opDelete byte = 2 // format: delete key

	beforeAbsent  byte = 0 // format: the key did not exist before
	beforePresent byte = 1 // format: the key existed; its old value follows
)

const (
	// recordHeaderMax bounds the encoded header: version, kind, gen
	// (uvarint), time (8 bytes), op count (uvarint).
	recordHeaderMax = 1 + 1 + binary.MaxVarintLen64 + 8 + binary.MaxVarintLen64
	// opOverheadMax bounds an op's bytes besides its bucket, key, value and
	// old value: op byte, three lengths, before flag, old length.
	opOverheadMax = 1 + 3*binary.MaxVarintLen64 + 1 + binary.MaxVarintLen64
	// minOpSize is the smallest encoded op (a delete of a 1-byte key in a
	// 1-byte bucket that did not exist): used to reject absurd op counts
	// before allocating.
	minOpSize = 1 + 2 + 2 + 1
)

// errRecord is wrapped by every decoding error.
var errRecord = fmt.Errorf("%w: bad log record", ErrCorrupt)

// op is one write of a transaction, with the before-image that undoes it.
type op struct {
	kind    byte   // opPut or opDelete
	bucket  []byte // non-empty
	key     []byte // non-empty
	value   []byte // the new value (opPut only)
	existed bool   // the key existed before this write
	old     []byte // its old value (when existed)
}

// record is a decoded log record. Decoded slices alias the payload.
type record struct {
	kind byte
	gen  uint64 // generation of the master that wrote it (0 standalone)
	time int64  // commit time, Unix nanoseconds
	ops  []op
}

// decodeRecord decodes a record payload. It returns an error wrapping
// ErrCorrupt for any malformed input and never panics. The returned slices
// alias p.
func decodeRecord(p []byte) (record, error) {
	d := decoder{p: p}
	var r record
	if v := d.byte(); d.err == nil && v != recordVersion {
		return r, fmt.Errorf("%w: unknown version %d", errRecord, v)
	}
	r.kind = d.byte()
	if d.err == nil && r.kind != kindCommit {
		return r, fmt.Errorf("%w: unknown kind %d", errRecord, r.kind)
	}
	r.gen = d.uvarint()
	r.time = int64(d.uint64())
	n := d.uvarint()
	if d.err != nil {
		return record{}, d.err
	}
	if n > uint64(len(d.p)/minOpSize) {
		return record{}, fmt.Errorf("%w: %d ops in %d bytes", errRecord, n, len(d.p))
	}
	r.ops = make([]op, n)
	for i := range r.ops {
		o := &r.ops[i]
		o.kind = d.byte()
		o.bucket = d.bytes()
		o.key = d.bytes()
		if d.err != nil {
			break
		}
		switch {
		case o.kind != opPut && o.kind != opDelete:
			d.fail("op %d: unknown op %d", i, o.kind)
		case len(o.bucket) == 0 || len(o.bucket) > MaxKeySize:
			d.fail("op %d: bucket name length %d", i, len(o.bucket))
		case len(o.key) == 0 || len(o.key) > MaxKeySize:
			d.fail("op %d: key length %d", i, len(o.key))
		}
		if o.kind == opPut {
			o.value = d.bytes()
		}
		switch b := d.byte(); {
		case d.err != nil:
		case b == beforePresent:
			o.existed = true
			o.old = d.bytes()
		case b != beforeAbsent:
			d.fail("op %d: bad before-image flag %d", i, b)
		}
		if d.err != nil {
			break
		}
	}
	if d.err == nil && len(d.p) != 0 {
		d.fail("%d trailing bytes", len(d.p))
	}
	if d.err != nil {
		return record{}, d.err
	}
	return r, nil
}

// decoder reads a payload front to back; the first error sticks and makes
// every later read return zero values.
type decoder struct {
	p   []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errRecord, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.p) < 1 {
		d.err = fmt.Errorf("%w: %w", errRecord, errShort)
		return 0
	}
	b := d.p[0]
	d.p = d.p[1:]
	return b
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.p) < 8 {
		d.err = fmt.Errorf("%w: %w", errRecord, errShort)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.p)
	d.p = d.p[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.p = d.p[n:]
	return v
}

// bytes reads a length-prefixed byte string. The result has its capacity
// clipped so that appending to it never writes into the payload.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.p)) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.p))
		return nil
	}
	b := d.p[:n:n]
	d.p = d.p[n:]
	return b
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func bytesLen(b []byte) int { return uvarintLen(uint64(len(b))) + len(b) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
