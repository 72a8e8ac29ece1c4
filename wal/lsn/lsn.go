package lsn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// LSN is a log sequence number: the segment file a record lives in and the
// byte offset of its first byte. It is a small value type; compare with
// [LSN.Compare] or [LSN.Less], never with field-by-field arithmetic.
type LSN struct {
	File   uint32
	Offset uint32
}

// Zero is the LSN before every record.
var Zero LSN

// ErrSyntax reports a string that is not of the form "file/offset".
var ErrSyntax = errors.New("lsn: invalid syntax")

// New returns the LSN (file, offset).
func New(file, offset uint32) LSN { return LSN{File: file, Offset: offset} }

// IsZero reports whether l is the zero LSN.
func (l LSN) IsZero() bool { return l == Zero }

// Compare returns -1 if l < m, 0 if l == m and +1 if l > m.
func (l LSN) Compare(m LSN) int {
	switch {
	case l.File < m.File:
		return -1
	case l.File > m.File:
		return 1
	case l.Offset < m.Offset:
		return -1
	case l.Offset > m.Offset:
		return 1
	}
	return 0
}

// Less reports whether l orders before m.
func (l LSN) Less(m LSN) bool { return l.Compare(m) < 0 }

// Max returns the later of l and m.
func Max(l, m LSN) LSN {
	if l.Less(m) {
		return m
	}
	return l
}

// Min returns the earlier of l and m.
func Min(l, m LSN) LSN {
	if m.Less(l) {
		return m
	}
	return l
}

// Distance estimates the log bytes from a to b in a log whose files hold
// fileSize bytes: 0 if b is not after a; within one file the offsets'
// difference; across files the rest of a's file, every file between as
// full, and b's offset.
func Distance(a, b LSN, fileSize int64) int64 {
	if !a.Less(b) {
		return 0
	}
	if a.File == b.File {
		return int64(b.Offset - a.Offset)
	}
	return int64(b.File-a.File-1)*fileSize + int64(b.Offset) + max(fileSize-int64(a.Offset), 0)
}

// String formats l as "file/offset".
func (l LSN) String() string {
	var b [21]byte
	return string(l.AppendText(b[:0]))
}

// AppendText implements encoding.TextAppender: it appends l as String
// formats it, without allocating.
func (l LSN) AppendText(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(l.File), 10)
	b = append(b, '/')
	return strconv.AppendUint(b, uint64(l.Offset), 10)
}

// Parse reads an LSN in the form String produces ("3/4096").
func Parse(s string) (LSN, error) {
	f, o, ok := strings.Cut(s, "/")
	if !ok {
		return Zero, fmt.Errorf("%w: %q: want file/offset", ErrSyntax, s)
	}
	file, err := strconv.ParseUint(f, 10, 32)
	if err != nil {
		return Zero, fmt.Errorf("%w: %q: file: %v", ErrSyntax, s, err)
	}
	off, err := strconv.ParseUint(o, 10, 32)
	if err != nil {
		return Zero, fmt.Errorf("%w: %q: offset: %v", ErrSyntax, s, err)
	}
	return LSN{File: uint32(file), Offset: uint32(off)}, nil
}

// MarshalText implements encoding.TextMarshaler, so an LSN is "3/4096" in
// JSON and TOML.
func (l LSN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LSN) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
