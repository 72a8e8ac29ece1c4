package env

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"logship/rep"
)

// snapSource is a site with some data and a snapshot of it, taken as a
// master takes one to serve.
func snapSource(t *testing.T) (*Env, *TakenSnapshot) {
	t.Helper()
	src := openTest(t, t.TempDir(), testConfig())
	for i := range 200 {
		put(t, src, "b", fmt.Sprintf("k%03d", i), fmt.Sprintf("value-%d", i))
	}
	snap, err := src.Replica().TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return src, snap
}

// sendChunks hands the receiving Replica the snapshot's bytes [from, to)
// in chunks of n, as rep's PAGEs arrive.
func sendChunks(t *testing.T, r *Replica, snap *TakenSnapshot, from, to int64, n int) {
	t.Helper()
	for off := from; off < to; off += int64(n) {
		buf := make([]byte, min(int64(n), to-off))
		if _, err := snap.Reader.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteChunk(rep.Chunk{Snap: snap.Info, Offset: off, Data: buf}); err != nil {
			t.Fatal(err)
		}
	}
}

// An init cut short by a restart resumes where the received bytes end:
// the reopened site says what it holds, takes the rest, and installs the
// same data the source has.
func TestSnapshotTransferResumesAfterRestart(t *testing.T) {
	src, snap := snapSource(t)
	dir := t.TempDir()
	dst := openTest(t, dir, testConfig())
	half := snap.Info.Size / 2
	sendChunks(t, dst.Replica(), snap, 0, half, 1000)
	dst.Replica().Close() // as a stopping site does
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}

	dst = openTest(t, dir, testConfig())
	r := dst.Replica()
	p, ok := r.PartialInit()
	if !ok || p.Snap != snap.Info || p.Offset != half {
		t.Fatalf("after the restart the site offers %+v (%t), want %+v at %d", p, ok, snap.Info, half)
	}
	sendChunks(t, r, snap, p.Offset, snap.Info.Size, 777)
	if err := r.Install(rep.Install{Snap: snap.Info, Discard: r.Last()}); err != nil {
		t.Fatal(err)
	}
	want, _ := dump(t, src)
	got, _ := dump(t, dst)
	if !equalData(want, got) {
		t.Fatalf("installed data differs from the source: %s", diffData(want, got))
	}
	if _, ok := r.PartialInit(); ok {
		t.Fatal("the installed snapshot is still offered for resuming")
	}
}

// A byte changed in transit fails the install with ErrBadSnapshot, both
// when the checksum was folded in as the chunks came and when it is
// computed afresh after a resume; the data stays as it was.
func TestReceivedSnapshotIsChecked(t *testing.T) {
	for _, resumed := range []bool{false, true} {
		t.Run(fmt.Sprintf("resumed=%t", resumed), func(t *testing.T) {
			_, snap := snapSource(t)
			dir := t.TempDir()
			dst := openTest(t, dir, testConfig())
			put(t, dst, "own", "k", "v")
			r := dst.Replica()
			half := snap.Info.Size / 2
			sendChunks(t, r, snap, 0, half, 4096)
			if resumed {
				r.Close()
				if err := dst.Close(); err != nil {
					t.Fatal(err)
				}
				dst = openTest(t, dir, testConfig())
				r = dst.Replica()
			}
			// The rest, with one byte of the bbolt file changed.
			buf := make([]byte, snap.Info.Size-half)
			if _, err := snap.Reader.ReadAt(buf, half); err != nil {
				t.Fatal(err)
			}
			buf[len(buf)/2] ^= 0x40
			if err := r.WriteChunk(rep.Chunk{Snap: snap.Info, Offset: half, Data: buf}); err != nil {
				t.Fatal(err)
			}
			err := r.Install(rep.Install{Snap: snap.Info, Discard: r.Last()})
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("install of a damaged snapshot: %v, want ErrBadSnapshot", err)
			}
			if v, ok := viewGet(t, dst, "own", "k"); !ok || v != "v" {
				t.Fatalf("the site's own data changed: %q %t", v, ok)
			}
		})
	}
}

// A snapshot received intact whose file changes on this disk before it
// is installed (a sector gone bad, a stray write) is refused too: the
// file is read back, not trusted because its bytes arrived whole, and
// the error says where the damage happened.
func TestSnapshotChangedOnDiskIsRefused(t *testing.T) {
	_, snap := snapSource(t)
	dst := openTest(t, t.TempDir(), testConfig())
	put(t, dst, "own", "k", "v")
	r := dst.Replica()
	sendChunks(t, r, snap, 0, snap.Info.Size, 4096)
	f, err := os.OpenFile(r.snapPath("snap-in", snap.Info.ID), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	off := (snap.Info.Size - snapHeaderSize - 4) / 2
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	err = r.Install(rep.Install{Snap: snap.Info, Discard: r.Last()})
	if !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), "reads back different") {
		t.Fatalf("install of a snapshot changed on disk: %v, want ErrBadSnapshot saying the file changed here", err)
	}
	if v, ok := viewGet(t, dst, "own", "k"); !ok || v != "v" {
		t.Fatalf("the site's own data changed: %q %t", v, ok)
	}
}
