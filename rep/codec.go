package rep

import (
	"encoding/binary"
	"math"
	"strconv"

	"logship/wal/lsn"
)

// The commit path sends a LOG and an ACK per group commit and client, so
// their encoding is on every commit's critical path, on every site. The
// msgpack library walks the struct by reflection and writes each LSN
// through MarshalText (an allocation and a formatting per LSN); profiles
// of a loaded group put it at a tenth of a client's CPU. This file writes
// and reads the same bytes directly: appendMessage produces exactly what
// msgpack.Marshal produces for a Message (a test compares the two), and
// decodeMessage reads what the library writes and falls back to the
// library for anything it does not expect, so the wire format, its
// version and its documentation are unchanged.

// msgpack format bytes used here.
const (
	mpNil    = 0xc0
	mpFalse  = 0xc2
	mpTrue   = 0xc3
	mpBin8   = 0xc4
	mpBin16  = 0xc5
	mpBin32  = 0xc6
	mpUint8  = 0xcc
	mpUint16 = 0xcd
	mpUint32 = 0xce
	mpUint64 = 0xcf
	mpInt8   = 0xd0
	mpInt16  = 0xd1
	mpInt32  = 0xd2
	mpInt64  = 0xd3
	mpStr8   = 0xd9
	mpStr16  = 0xda
	mpStr32  = 0xdb
	mpArr16  = 0xdc
	mpArr32  = 0xdd
	mpMap16  = 0xde
	mpMap32  = 0xdf
)

// appendMessage appends m's msgpack encoding, field for field as the
// library writes the struct: the five fixed fields, then each omitempty
// field that is set, in declaration order. ok is false for a message it
// does not encode (one carrying a snapshot description), which the caller
// hands to the library.
func appendMessage(b []byte, m *Message) ([]byte, bool) {
	if m.Snap != nil {
		return b, false
	}
	n := 5
	for _, set := range [...]bool{len(m.Records) > 0, !m.LSN.IsZero(), !m.Until.IsZero(), !m.Last.IsZero(),
		m.Anywhere, m.Outdated, m.Abandoned, m.Found, m.RecGen != 0, m.Checksum != 0, m.Priority != 0,
		m.Offset != 0, len(m.Data) > 0, m.NotAvail, !m.Applied.IsZero(), m.Electability != 0, m.Digest != 0, !m.Commit.IsZero()} {
		if set {
			n++
		}
	}
	b = append(b, 0x80|byte(n)) // at most 23 fields: a fixmap or...
	if n > 15 {
		b = append(b[:len(b)-1], mpMap16, 0, byte(n))
	}
	b = appendKey(b, "v")
	b = append(b, mpUint8, m.V)
	b = appendKey(b, "t")
	b = append(b, mpUint8, byte(m.Type))
	b = appendKey(b, "f")
	b = appendUint64(b, uint64(m.From))
	b = appendKey(b, "o")
	b = appendUint64(b, uint64(m.To))
	b = appendKey(b, "g")
	b = appendUint64(b, m.Gen)
	if len(m.Records) > 0 {
		b = appendKey(b, "r")
		b = appendArrayHeader(b, len(m.Records))
		for i := range m.Records {
			r := &m.Records[i]
			b = append(b, 0x85)
			b = appendKey(b, "l")
			b = appendLSN(b, r.LSN)
			b = appendKey(b, "p")
			b = appendLSN(b, r.Prev)
			b = appendKey(b, "g")
			b = appendUint64(b, r.Gen)
			b = appendKey(b, "c")
			b = appendUint32(b, r.Checksum)
			b = appendKey(b, "d")
			b = appendBin(b, r.Payload)
		}
	}
	b = appendLSNField(b, "l", m.LSN)
	b = appendLSNField(b, "u", m.Until)
	b = appendLSNField(b, "e", m.Last)
	b = appendTrueField(b, "a", m.Anywhere)
	b = appendTrueField(b, "x", m.Outdated)
	b = appendTrueField(b, "ab", m.Abandoned)
	b = appendTrueField(b, "n", m.Found)
	if m.RecGen != 0 {
		b = appendUint64(appendKey(b, "rg"), m.RecGen)
	}
	if m.Checksum != 0 {
		b = appendUint32(appendKey(b, "c"), m.Checksum)
	}
	if m.Priority != 0 {
		b = appendUint32(appendKey(b, "pr"), m.Priority)
	}
	if m.Offset != 0 {
		b = binary.BigEndian.AppendUint64(append(appendKey(b, "of"), mpInt64), uint64(m.Offset))
	}
	if len(m.Data) > 0 {
		b = appendBin(appendKey(b, "d"), m.Data)
	}
	b = appendTrueField(b, "na", m.NotAvail)
	b = appendLSNField(b, "ap", m.Applied)
	if m.Electability != 0 {
		b = append(appendKey(b, "el"), mpUint8, byte(m.Electability))
	}
	if m.Digest != 0 {
		b = appendUint64(appendKey(b, "dg"), m.Digest)
	}
	b = appendLSNField(b, "cm", m.Commit)
	return b, true
}

func appendKey(b []byte, k string) []byte { return append(append(b, 0xa0|byte(len(k))), k...) }

func appendUint64(b []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, mpUint64), v)
}

func appendUint32(b []byte, v uint32) []byte {
	return binary.BigEndian.AppendUint32(append(b, mpUint32), v)
}

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpArr16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, mpArr32), uint32(n))
}

// appendBin writes p as bin, and a nil slice as nil, as the library does.
func appendBin(b, p []byte) []byte {
	switch n := len(p); {
	case p == nil:
		return append(b, mpNil)
	case n <= math.MaxUint8:
		b = append(b, mpBin8, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, mpBin16), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, mpBin32), uint32(n))
	}
	return append(b, p...)
}

// appendLSN writes an LSN as the library does through MarshalText: its
// text form, as bin.
func appendLSN(b []byte, l lsn.LSN) []byte {
	var t [21]byte
	s := strconv.AppendUint(t[:0], uint64(l.File), 10)
	s = append(s, '/')
	s = strconv.AppendUint(s, uint64(l.Offset), 10)
	return append(append(b, mpBin8, byte(len(s))), s...)
}

func appendLSNField(b []byte, k string, l lsn.LSN) []byte {
	if l.IsZero() {
		return b
	}
	return appendLSN(appendKey(b, k), l)
}

func appendTrueField(b []byte, k string, v bool) []byte {
	if !v {
		return b
	}
	return append(appendKey(b, k), mpTrue)
}

// decoder reads msgpack from a buffer that wire.Check has already
// walked, so lengths fit; anything unexpected sets bad, and the caller
// falls back to the library.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) byte1() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) take(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.bad = true
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) be(n int) uint64 {
	p := d.take(n)
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v
}

// uint reads an unsigned integer in any of msgpack's unsigned forms.
func (d *decoder) uint() uint64 {
	switch c := d.byte1(); {
	case c <= 0x7f:
		return uint64(c)
	case c == mpUint8:
		return d.be(1)
	case c == mpUint16:
		return d.be(2)
	case c == mpUint32:
		return d.be(4)
	case c == mpUint64:
		return d.be(8)
	}
	d.bad = true
	return 0
}

func (d *decoder) uintMax(max uint64) uint64 {
	v := d.uint()
	if v > max {
		d.bad = true
	}
	return v
}

func (d *decoder) uint32() uint32 { return uint32(d.uintMax(math.MaxUint32)) }

func (d *decoder) int64() int64 {
	switch c := d.b; {
	case len(c) > 0 && c[0] >= 0xe0:
		d.b = d.b[1:]
		return int64(int8(c[0]))
	case len(c) > 0 && c[0] == mpInt8:
		d.b = d.b[1:]
		return int64(int8(d.be(1)))
	case len(c) > 0 && c[0] == mpInt16:
		d.b = d.b[1:]
		return int64(int16(d.be(2)))
	case len(c) > 0 && c[0] == mpInt32:
		d.b = d.b[1:]
		return int64(int32(d.be(4)))
	case len(c) > 0 && c[0] == mpInt64:
		d.b = d.b[1:]
		return int64(d.be(8))
	}
	return int64(d.uintMax(math.MaxInt64))
}

func (d *decoder) bool() bool {
	switch d.byte1() {
	case mpTrue:
		return true
	case mpFalse:
		return false
	}
	d.bad = true
	return false
}

// bytes reads bin or str; nil reads as nil.
func (d *decoder) bytes() []byte {
	c := d.byte1()
	var n int
	switch {
	case c == mpNil:
		return nil
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c == mpBin8 || c == mpStr8:
		n = int(d.be(1))
	case c == mpBin16 || c == mpStr16:
		n = int(d.be(2))
	case c == mpBin32 || c == mpStr32:
		n = int(d.be(4))
	default:
		d.bad = true
		return nil
	}
	return d.take(n)
}

// lsn reads an LSN in its text form "file/offset".
func (d *decoder) lsn() lsn.LSN {
	t := d.bytes()
	if t == nil {
		d.bad = true // let the library say what it makes of nil
		return lsn.Zero
	}
	var v [2]uint64
	i, digits := 0, 0
	for _, c := range t {
		switch {
		case c >= '0' && c <= '9' && digits < 10:
			v[i] = v[i]*10 + uint64(c-'0')
			digits++
		case c == '/' && i == 0 && digits > 0:
			i, digits = 1, 0
		default:
			d.bad = true
			return lsn.Zero
		}
	}
	if i != 1 || digits == 0 || v[0] > math.MaxUint32 || v[1] > math.MaxUint32 {
		d.bad = true
		return lsn.Zero
	}
	return lsn.New(uint32(v[0]), uint32(v[1]))
}

// header reads a map or array header of the given fix base and 16/32-bit
// forms.
func (d *decoder) header(fix, f16, f32 byte) int {
	switch c := d.byte1(); {
	case c&0xf0 == fix:
		return int(c & 0x0f)
	case c == f16:
		return int(d.be(2))
	case c == f32:
		return int(d.be(4))
	}
	d.bad = true
	return 0
}

// key reads a map key, a short str. Callers switch on string(key), which
// does not allocate.
func (d *decoder) key() []byte {
	c := d.byte1()
	if c < 0xa0 || c > 0xbf {
		d.bad = true
		return nil
	}
	return d.take(int(c & 0x1f))
}

// decodeMessage decodes b, already checked by wire.Check, into m. ok is
// false when b holds something it does not read (a snapshot description,
// an unknown field, an unexpected form); m is then garbage and the caller
// decodes b with the library instead.
func decodeMessage(b []byte, m *Message) (ok bool) {
	d := decoder{b: b}
	n := d.header(0x80, mpMap16, mpMap32)
	for i := 0; i < n && !d.bad; i++ {
		switch string(d.key()) {
		case "v":
			m.V = uint8(d.uintMax(math.MaxUint8))
		case "t":
			m.Type = MsgType(d.uintMax(math.MaxUint8))
		case "f":
			m.From = SiteID(d.uint())
		case "o":
			m.To = SiteID(d.uint())
		case "g":
			m.Gen = d.uint()
		case "r":
			m.Records = d.records()
		case "l":
			m.LSN = d.lsn()
		case "u":
			m.Until = d.lsn()
		case "e":
			m.Last = d.lsn()
		case "a":
			m.Anywhere = d.bool()
		case "x":
			m.Outdated = d.bool()
		case "ab":
			m.Abandoned = d.bool()
		case "n":
			m.Found = d.bool()
		case "rg":
			m.RecGen = d.uint()
		case "c":
			m.Checksum = d.uint32()
		case "pr":
			m.Priority = d.uint32()
		case "of":
			m.Offset = d.int64()
		case "d":
			m.Data = cloneBytes(d.bytes())
		case "na":
			m.NotAvail = d.bool()
		case "ap":
			m.Applied = d.lsn()
		case "el":
			m.Electability = Electability(d.uintMax(math.MaxUint8))
		case "dg":
			m.Digest = d.uint()
		case "cm":
			m.Commit = d.lsn()
		default:
			return false
		}
	}
	return !d.bad && len(d.b) == 0
}

func (d *decoder) records() []LogRecord {
	if len(d.b) > 0 && d.b[0] == mpNil {
		d.b = d.b[1:]
		return nil
	}
	n := d.header(0x90, mpArr16, mpArr32)
	if d.bad || n > len(d.b) { // each record takes at least a byte
		d.bad = true
		return nil
	}
	recs := make([]LogRecord, n)
	for i := range recs {
		r := &recs[i]
		fields := d.header(0x80, mpMap16, mpMap32)
		for j := 0; j < fields && !d.bad; j++ {
			switch string(d.key()) {
			case "l":
				r.LSN = d.lsn()
			case "p":
				r.Prev = d.lsn()
			case "g":
				r.Gen = d.uint()
			case "c":
				r.Checksum = d.uint32()
			case "d":
				r.Payload = cloneBytes(d.bytes())
			default:
				d.bad = true
			}
		}
		if d.bad {
			return nil
		}
	}
	return recs
}

// cloneBytes copies p (the input buffer is the transport's), keeping nil
// and empty apart as the library does.
func cloneBytes(p []byte) []byte {
	if p == nil {
		return nil
	}
	return append(make([]byte, 0, len(p)), p...)
}
