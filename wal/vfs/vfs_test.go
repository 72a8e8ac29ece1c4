package vfs

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestConformance runs the same script against every implementation, so
// the in-memory file system behaves like the real one where the log cares.
func TestConformance(t *testing.T) {
	impls := map[string]func(t *testing.T) (FS, string){
		"os":       func(t *testing.T) (FS, string) { return OS, t.TempDir() },
		"mem":      func(t *testing.T) (FS, string) { return NewMem(), "/data" },
		"injector": func(t *testing.T) (FS, string) { return NewInjector(NewMem()), "/data" },
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			fs, dir := mk(t)
			dir = filepath.Join(dir, "sub")
			if err := fs.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "a")
			if _, err := Open(fs, p); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("open missing: %v", err)
			}
			f, err := Create(fs, p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("hello ")); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("world")); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("W"), 6); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if sz, err := f.Size(); err != nil || sz != 11 {
				t.Fatalf("size = %d, %v", sz, err)
			}
			buf := make([]byte, 5)
			if n, err := f.ReadAt(buf, 6); n != 5 || string(buf) != "World" || (err != nil && err != io.EOF) {
				t.Fatalf("ReadAt = %d %q %v", n, buf, err)
			}
			if n, err := f.ReadAt(buf, 9); n != 2 || err != io.EOF {
				t.Fatalf("ReadAt past end = %d %v", n, err)
			}
			if err := f.Truncate(5); err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(8); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 8)
			if _, err := f.ReadAt(got, 0); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if !bytes.Equal(got, []byte("hello\x00\x00\x00")) {
				t.Fatalf("after truncate: %q", got)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := fs.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, os.ErrExist) {
				t.Fatalf("O_EXCL on existing: %v", err)
			}
			if err := fs.Rename(p, filepath.Join(dir, "b")); err != nil {
				t.Fatal(err)
			}
			names, err := fs.ReadDir(dir)
			if err != nil || len(names) != 1 || names[0] != "b" {
				t.Fatalf("ReadDir = %v, %v", names, err)
			}
			if err := fs.SyncDir(dir); err != nil {
				t.Fatal(err)
			}
			if err := fs.Remove(filepath.Join(dir, "b")); err != nil {
				t.Fatal(err)
			}
			if err := fs.Remove(filepath.Join(dir, "b")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("remove twice: %v", err)
			}
		})
	}
}

func writeFile(t *testing.T, fs FS, name, data string, sync bool) File {
	t.Helper()
	f, err := Create(fs, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestMemCrashLosesUnsyncedBytes(t *testing.T) {
	m := NewMem()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, m, "/d/log", "durable", true)
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("-lost")); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if got, _ := m.Bytes("/d/log"); string(got) != "durable" {
		t.Fatalf("after crash: %q", got)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("write on pre-crash handle: %v", err)
	}
}

func TestMemCrashLosesUnsyncedDirectoryEntries(t *testing.T) {
	m := NewMem()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, m, "/d/kept", "k", true)
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, m, "/d/new", "synced data, unsynced name", true)
	if err := m.Remove("/d/kept"); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	names, _ := m.ReadDir("/d")
	if len(names) != 1 || names[0] != "kept" {
		t.Fatalf("after crash names = %v, want [kept]", names)
	}
}

func TestMemCrashTornKeepsPrefixOfAppend(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sawPartial := false
	for range 50 {
		m := NewMem()
		_ = m.MkdirAll("/d", 0o755)
		f := writeFile(t, m, "/d/log", "base", true)
		_ = m.SyncDir("/d")
		if _, err := f.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		m.CrashTorn(rng)
		got, _ := m.Bytes("/d/log")
		if !bytes.HasPrefix([]byte("base0123456789"), got) || len(got) < 4 {
			t.Fatalf("torn crash left %q", got)
		}
		if len(got) > 4 && len(got) < 14 {
			sawPartial = true
		}
	}
	if !sawPartial {
		t.Fatal("CrashTorn never kept a partial append")
	}
}

func TestMemSyncAfterOverwriteAndTruncate(t *testing.T) {
	m := NewMem()
	_ = m.MkdirAll("/d", 0o755)
	f := writeFile(t, m, "/d/f", "abcdefgh", true)
	_ = m.SyncDir("/d")
	if _, err := f.WriteAt([]byte("XY"), 2); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(6); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if got, _ := m.Bytes("/d/f"); string(got) != "abXYef" {
		t.Fatalf("got %q, want abXYef", got)
	}
}

func TestInjectorFailsChosenOps(t *testing.T) {
	inj := NewInjector(NewMem())
	_ = inj.MkdirAll("/d", 0o755)
	inj.Inject(Fault{Op: OpSync, Path: "log", Skip: 1, Times: 1})
	f := writeFile(t, inj, "/d/log", "a", true) // first sync skipped
	if err := f.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("second sync: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("third sync (Times exhausted): %v", err)
	}
	other := writeFile(t, inj, "/d/other", "b", true)
	_ = other
	if inj.Fired() != 1 {
		t.Fatalf("fired = %d", inj.Fired())
	}
}

func TestInjectorShortWrite(t *testing.T) {
	mem := NewMem()
	inj := NewInjector(mem)
	_ = inj.MkdirAll("/d", 0o755)
	boom := errors.New("disk full")
	inj.Inject(Fault{Op: OpWrite, Short: 3, Err: boom})
	f, err := Create(inj, "/d/f")
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.Write([]byte("abcdef"))
	if n != 3 || !errors.Is(err, boom) {
		t.Fatalf("short write = %d, %v", n, err)
	}
	if got, _ := mem.Bytes("/d/f"); string(got) != "abc" {
		t.Fatalf("file holds %q", got)
	}
}
