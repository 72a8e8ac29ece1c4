package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"testing"

	"logship/wal/lsn"
)

// TestConcurrentAppendSync runs writers that AppendSync concurrently, with
// a reader tailing the log, and checks every LSN is distinct, durable when
// AppendSync returns, readable, and in per-writer order.
func TestConcurrentAppendSync(t *testing.T) {
	const writers, each = 16, 60
	o, _ := memOpts()
	o.SegmentSize = 16 << 10
	l := mustOpen(t, testDir, o)
	defer l.Close()

	var wg sync.WaitGroup
	got := make([][]lsn.LSN, writers)
	errs := make(chan error, writers+1)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p := []byte(fmt.Sprintf("writer %d record %d", w, i))
				at, err := l.AppendSync(p)
				if err != nil {
					errs <- err
					return
				}
				if !at.Less(l.DurableEnd()) {
					errs <- fmt.Errorf("AppendSync returned %s but DurableEnd is %s", at, l.DurableEnd())
					return
				}
				got[w] = append(got[w], at)
			}
		})
	}
	// A reader tails the log while it grows.
	tailed := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, err := l.NewReader(lsn.Zero)
		if err != nil {
			errs <- err
			return
		}
		var prev lsn.LSN
		for tailed < writers*each {
			rec, err := r.Next()
			if err == io.EOF {
				runtime.Gosched()
				continue
			}
			if err != nil {
				errs <- err
				return
			}
			if !prev.Less(rec.LSN) {
				errs <- fmt.Errorf("reader went from %s to %s", prev, rec.LSN)
				return
			}
			prev = rec.LSN
			tailed++
		}
	}()
	wg.Wait()
	<-done
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var all []lsn.LSN
	for w, ats := range got {
		if !slices.IsSortedFunc(ats, lsn.LSN.Compare) {
			t.Fatalf("writer %d: LSNs out of order", w)
		}
		for i, at := range ats {
			rec, err := l.Read(at)
			if err != nil || !bytes.Equal(rec.Payload, []byte(fmt.Sprintf("writer %d record %d", w, i))) {
				t.Fatalf("Read %s: %q %v", at, rec.Payload, err)
			}
		}
		all = append(all, ats...)
	}
	slices.SortFunc(all, lsn.LSN.Compare)
	if len(slices.Compact(all)) != writers*each {
		t.Fatal("duplicate LSNs")
	}
	if s := l.Stats(); s.Syncs >= writers*each {
		t.Logf("no group commit: %d syncs for %d records", s.Syncs, writers*each)
	}
}

// TestConcurrentMaintenance appends, syncs, reads, truncates and removes
// files all at once: nothing may deadlock, race or return a record that
// fails its own checks; readers cut off by a truncation see ErrNotFound.
func TestConcurrentMaintenance(t *testing.T) {
	o, _ := memOpts()
	o.BufferSize = 256
	l := mustOpen(t, testDir, o)
	defer l.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				at, err := l.Append(payload(i))
				if err != nil {
					report(err)
					return
				}
				if (i+w)%7 == 0 {
					if err := l.Sync(at); err != nil {
						report(err)
						return
					}
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := l.NewReader(lsn.Zero)
				if err != nil {
					continue // the first record may just have been removed
				}
				for range 50 {
					rec, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						if !errors.Is(err, ErrNotFound) {
							report(fmt.Errorf("reader: %w", err))
						}
						break
					}
					if !bytes.HasPrefix(rec.Payload, []byte("record ")) {
						report(fmt.Errorf("reader returned %q at %s", rec.Payload, rec.LSN))
					}
				}
			}
		})
	}
	for i := range 200 {
		switch i % 3 {
		case 0:
			if last := l.Last(); !last.IsZero() {
				if err := l.TruncateAfter(last); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNotRecordStart) {
					t.Fatalf("TruncateAfter: %v", err)
				}
			}
		case 1:
			if _, err := l.RemoveBefore(l.Last()); err != nil {
				t.Fatalf("RemoveBefore: %v", err)
			}
		case 2:
			if err := l.Sync(l.End()); err != nil {
				t.Fatal(err)
			}
		}
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := Verify(o.FS, testDir, nil); err != nil {
		t.Fatalf("Verify after the storm: %v", err)
	}
}
