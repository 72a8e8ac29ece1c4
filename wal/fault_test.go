package wal

import (
	"errors"
	"testing"

	"logship/wal/lsn"

	"logship/wal/vfs"
)

func TestFsyncFailure(t *testing.T) {
	o, mem := memOpts()
	inj := vfs.NewInjector(mem)
	o.FS = inj
	l := mustOpen(t, testDir, o)
	defer l.Close()
	ok := appendN(t, l, 0, 5)
	if err := l.Sync(ok[4]); err != nil {
		t.Fatal(err)
	}
	inj.Inject(vfs.Fault{Op: vfs.OpSync, Times: 1})
	at, err := l.Append(payload(5))
	if err != nil {
		t.Fatal(err)
	}
	err = l.Sync(at)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Sync with a failing fsync = %v; want ErrFailed wrapping the cause", err)
	}
	// The fault fired once; the disk "works" again, but the log must not
	// trust it.
	if _, err := l.Append(payload(6)); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append after a failed fsync = %v", err)
	}
	if err := l.AppendAt(l.End(), nil); !errors.Is(err, ErrFailed) {
		t.Fatalf("AppendAt after a failed fsync = %v", err)
	}
	if err := l.Sync(at); !errors.Is(err, ErrFailed) {
		t.Fatalf("second Sync = %v", err)
	}
	if err := l.Err(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Err = %v", err)
	}
	if err := l.TruncateAfter(ok[0]); !errors.Is(err, ErrFailed) {
		t.Fatalf("TruncateAfter = %v", err)
	}
	// What was durable before is still readable.
	if _, err := l.Read(ok[4]); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFailure(t *testing.T) {
	for name, f := range map[string]vfs.Fault{
		"short write":         {Op: vfs.OpWrite, Short: 7, Skip: 3},
		"failed write":        {Op: vfs.OpWrite, Skip: 5},
		"directory sync":      {Op: vfs.OpSyncDir},
		"creating a new file": {Op: vfs.OpOpen, Path: segName(2)},
	} {
		t.Run(name, func(t *testing.T) {
			o, mem := memOpts()
			inj := vfs.NewInjector(mem)
			o.FS = inj
			l := mustOpen(t, testDir, o)
			defer l.Close()
			inj.Inject(f)
			var err error
			var acked []lsn.LSN
			for i := 0; err == nil && i < 1000; i++ {
				var at lsn.LSN
				if at, err = l.AppendSync(payload(i)); err == nil {
					acked = append(acked, at)
				}
			}
			if !errors.Is(err, ErrFailed) || !errors.Is(l.Err(), ErrFailed) {
				t.Fatalf("AppendSync with %v fault = %v; Err = %v", f.Op, err, l.Err())
			}
			if _, err := l.Append(nil); !errors.Is(err, ErrFailed) {
				t.Fatalf("Append after failure = %v", err)
			}
			// Whatever was acknowledged survives a reopen.
			inj.Clear()
			mem.Crash()
			l2 := mustOpen(t, testDir, o)
			defer l2.Close()
			for i, at := range acked {
				if rec, err := l2.Read(at); err != nil || string(rec.Payload) != string(payload(i)) {
					t.Fatalf("acknowledged record %d at %s: %v", i, at, err)
				}
			}
		})
	}
}
