package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

const benchRecord = 128

// rawFsyncRate measures the disk's limit for durable small appends: one
// writer doing write(128 bytes)+fdatasync (vfs.OS's Sync) in a loop on an
// appended file in dir.
func rawFsyncRate(b *testing.B, dir string) float64 {
	path := filepath.Join(dir, "raw-fsync")
	f, err := vfs.OS.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(path)
	defer f.Close()
	buf := make([]byte, benchRecord)
	n, start := 0, time.Now()
	for time.Since(start) < 500*time.Millisecond {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

// rawSeqBandwidth measures the disk's sequential write bandwidth the way
// the log writes: 1 MiB writes filling files of DefaultSegmentSize, each
// fdatasynced before the next is created (the log's rule, so recovery only
// scans the last file), for duration d; in bytes per second. With
// segmentSync false it only writes (no sync at all), which measures the
// page cache rather than the disk until the kernel throttles.
func rawSeqBandwidth(b *testing.B, dir string, d time.Duration, segmentSync bool) float64 {
	buf := make([]byte, DefaultBufferSize)
	var f vfs.File
	total, inFile, files := 0, 0, 0
	start := time.Now()
	for time.Since(start) < d {
		if f == nil || (segmentSync && inFile+len(buf) > DefaultSegmentSize) {
			if f != nil {
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
			files++
			var err error
			f, err = vfs.OS.OpenFile(filepath.Join(dir, fmt.Sprintf("raw-seq.%d", files)), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			inFile = 0
		}
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		total += len(buf)
		inFile += len(buf)
	}
	rate := float64(total) / time.Since(start).Seconds()
	f.Close()
	for i := 1; i <= files; i++ {
		os.Remove(filepath.Join(dir, fmt.Sprintf("raw-seq.%d", i)))
	}
	return rate
}

// BenchmarkAppendSync measures durable appends of 128-byte records by 1,
// 16 and 64 concurrent writers, against the raw fsync rate of the same
// directory: records/s, raw-fsync/s and their ratio x-raw.
func BenchmarkAppendSync(b *testing.B) {
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			dir := b.TempDir()
			rawBefore := rawFsyncRate(b, dir)
			l, err := Open(filepath.Join(dir, "log"), Options{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			payload := make([]byte, benchRecord)
			b.ReportAllocs()
			var n int
			var elapsed time.Duration
			if writers == 1 {
				start := time.Now()
				for b.Loop() {
					if _, err := l.AppendSync(payload); err != nil {
						b.Fatal(err)
					}
					n++
				}
				elapsed = time.Since(start)
			} else {
				n, elapsed = appendSyncParallel(b, l, writers, payload)
			}
			st := l.Stats()
			b.ReportMetric(float64(st.Appends)/float64(max(st.Syncs, 1)), "records/fsync")
			b.ReportMetric(float64(st.SyncNanos)/float64(max(st.Syncs, 1))/1e3, "µs/fsync")
			// The disk's rate drifts; compare with the mean of a
			// measurement before and one after.
			raw := (rawBefore + rawFsyncRate(b, dir)) / 2
			rate := float64(n) / elapsed.Seconds()
			b.ReportMetric(rate, "records/s")
			b.ReportMetric(raw, "raw-fsync/s")
			b.ReportMetric(rate/raw, "x-raw")
		})
	}
}

// BenchmarkAppendNoSync measures appends of 128-byte records without Sync
// (buffered, written in BufferSize pieces by the background writer), in
// MB/s of payload, against the raw sequential write bandwidth of the same
// directory measured the same way (x-raw-seq; see rawSeqBandwidth), and,
// for reference, against plain writes that never sync (x-page-cache),
// which a log that must fsync each finished file cannot match while the
// page cache absorbs everything.
//
// All runs last as long as the log's did and start after sync(2), with
// the previous run's files removed, so they see the same page cache state.
func BenchmarkAppendNoSync(b *testing.B) {
	dir := b.TempDir()
	logDir := filepath.Join(dir, "log")
	syscall.Sync()
	l, err := Open(logDir, Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, benchRecord)
	b.SetBytes(benchRecord)
	b.ReportAllocs()
	n, start := 0, time.Now()
	for b.Loop() {
		if _, err := l.Append(payload); err != nil {
			b.Fatal(err)
		}
		n++
	}
	// Count only what reached the files: write out the tail.
	if err := l.flush(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.RemoveAll(logDir); err != nil {
		b.Fatal(err)
	}
	syscall.Sync()
	raw := rawSeqBandwidth(b, dir, elapsed, true)
	syscall.Sync()
	cache := rawSeqBandwidth(b, dir, elapsed, false)
	rate := float64(n*benchRecord) / elapsed.Seconds()
	b.ReportMetric(raw/1e6, "raw-MB/s")
	b.ReportMetric(rate/raw, "x-raw-seq")
	b.ReportMetric(cache/1e6, "page-cache-MB/s")
	b.ReportMetric(rate/cache, "x-page-cache")
}

// appendSyncParallel runs b.Loop handing out records to writers that
// AppendSync them. Timing is taken around both, so records still in
// flight when the loop ends are counted.
func appendSyncParallel(b *testing.B, l *Log, writers int, payload []byte) (int, time.Duration) {
	work := make(chan struct{}, writers)
	var wg sync.WaitGroup
	var failed error
	var once sync.Once
	for range writers {
		wg.Go(func() {
			for range work {
				if _, err := l.AppendSync(payload); err != nil {
					once.Do(func() { failed = err })
				}
			}
		})
	}
	n, start := 0, time.Now()
	for b.Loop() {
		work <- struct{}{}
		n++
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	if failed != nil {
		b.Fatal(failed)
	}
	return n, elapsed
}

// BenchmarkReadInsideARecord times deciding that an LSN is not a record
// start, near the end of a 3 MiB file of 128-byte records: what a master
// does for each VERIFY_REQ of a client whose log diverged from its own.
// "opened" is the log as appended to; "reopened" is the same log opened
// again, whose recovery scan noted the file's record starts.
func BenchmarkReadInsideARecord(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(dir, Options{Logger: quiet, SegmentSize: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, benchRecord)
	var last lsn.LSN
	for range (3 << 20) / (benchRecord + RecordHeaderSize) {
		if last, err = l.Append(payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Sync(last); err != nil {
		b.Fatal(err)
	}
	inside := lsn.New(last.File, last.Offset+1)
	run := func(b *testing.B, l *Log) {
		for b.Loop() {
			if _, err := l.Read(inside); !errors.Is(err, ErrNotRecordStart) {
				b.Fatal(err)
			}
		}
	}
	b.Run("opened", func(b *testing.B) { run(b, l) })
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	l, err = Open(dir, Options{Logger: quiet, SegmentSize: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.Run("reopened", func(b *testing.B) { run(b, l) })
}
