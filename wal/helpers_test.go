package wal

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// quiet discards the log's slog output in tests.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// payload is the deterministic payload of record i: its number, then a
// pattern whose length varies, so records straddle buffers and files.
func payload(i int) []byte {
	head := fmt.Sprintf("record %d:", i)
	n := (i * 37) % 300
	b := make([]byte, len(head)+n)
	copy(b, head)
	for j := range n {
		b[len(head)+j] = byte('a' + (i+j)%26)
	}
	return b
}

// memOpts returns options for a log on a fresh MemFS with small files.
func memOpts() (Options, *vfs.MemFS) {
	fs := vfs.NewMem()
	return Options{FS: fs, SegmentSize: MinSegmentSize, BufferSize: 512, Logger: quiet}, fs
}

const testDir = "/data/log"

func mustOpen(t testing.TB, dir string, o Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// appendN appends records first..first+n-1 and returns their LSNs.
func appendN(t testing.TB, l *Log, first, n int) []lsn.LSN {
	t.Helper()
	out := make([]lsn.LSN, 0, n)
	for i := first; i < first+n; i++ {
		at, err := l.Append(payload(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, at)
	}
	return out
}

// checkAll reads the whole log with a Reader and checks it holds exactly
// records first.. with the given LSNs.
func checkAll(t testing.TB, l *Log, first int, want []lsn.LSN) {
	t.Helper()
	r, err := l.NewReader(lsn.Zero)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	defer r.Close()
	for k, at := range want {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("Next (record %d, want %s): %v", first+k, at, err)
		}
		if rec.LSN != at || !bytes.Equal(rec.Payload, payload(first+k)) {
			t.Fatalf("record %d: got %s %q, want %s %q", first+k, rec.LSN, rec.Payload, at, payload(first+k))
		}
	}
	if rec, err := r.Next(); err != io.EOF {
		t.Fatalf("after %d records: got %s, %v; want io.EOF", len(want), rec.LSN, err)
	}
}
