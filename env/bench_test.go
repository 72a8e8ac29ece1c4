package env

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"logship/wal"
)

// The benchmarks commit one 128-byte value under a new key per transaction,
// with N concurrent committers, on the real file system. The baselines in
// the same file: bbolt alone (Update per commit; Batch with default and
// tuned settings) and the log alone (append + fsync, one writer). Compare:
//
//	go test -run='^$' -bench=. -benchtime=2s ./env/

const benchValueSize = 128

var benchCommitters = []int{1, 16, 64}

// runCommitters runs commit from n goroutines, one call per b.Loop
// iteration (at most n in flight), and reports commits/s.
func runCommitters(b *testing.B, n int, commit func(key []byte) error) {
	b.Helper()
	var seq atomic.Uint64
	work := make(chan struct{})
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := make([]byte, 8)
			for range work {
				if failed.Load() != nil {
					continue
				}
				binary.BigEndian.PutUint64(key, seq.Add(1))
				if err := commit(key); err != nil {
					failed.Store(&err)
				}
			}
		}()
	}
	b.ReportAllocs()
	for b.Loop() {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

func BenchmarkUpdate(b *testing.B) {
	for _, n := range benchCommitters {
		b.Run(fmt.Sprintf("committers=%d", n), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Logger = discardLogger()
			e, err := Open(b.TempDir(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			val := make([]byte, benchValueSize)
			ctx := context.Background()
			runCommitters(b, n, func(key []byte) error {
				_, err := e.Update(ctx, func(tx *Tx) error { return tx.Put("bench", key, val) })
				return err
			})
			s := e.Stats()
			ls := e.log.Stats()
			b.ReportMetric(float64(s.Commits)/float64(max(ls.Syncs, 1)), "commits/fsync")
			b.ReportMetric(float64(s.AppliedRecords)/float64(max(s.AppliedBatches, 1)), "records/batch")
			b.ReportMetric(float64(ls.SyncNanos)/float64(max(ls.Syncs, 1))/1000, "us/fsync")
		})
	}
}

func openBenchBolt(b *testing.B) *bolt.DB {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bolt.db"), 0o644, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("bench"))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return db
}

func BenchmarkBoltUpdate(b *testing.B) {
	for _, n := range benchCommitters {
		b.Run(fmt.Sprintf("committers=%d", n), func(b *testing.B) {
			db := openBenchBolt(b)
			val := make([]byte, benchValueSize)
			runCommitters(b, n, func(key []byte) error {
				return db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("bench")).Put(key, val) })
			})
		})
	}
}

func BenchmarkBoltBatch(b *testing.B) {
	for _, mode := range []string{"default", "tuned"} {
		for _, n := range benchCommitters {
			b.Run(fmt.Sprintf("%s/committers=%d", mode, n), func(b *testing.B) {
				db := openBenchBolt(b)
				if mode == "tuned" {
					db.MaxBatchSize = n
				}
				val := make([]byte, benchValueSize)
				runCommitters(b, n, func(key []byte) error {
					k := append([]byte(nil), key...) // Batch may rerun fn later
					return db.Batch(func(tx *bolt.Tx) error { return tx.Bucket([]byte("bench")).Put(k, val) })
				})
			})
		}
	}
}

// BenchmarkLogAppendSync is the log alone: one writer appending 128-byte
// records, each made durable before the next (wal.AppendSync).
func BenchmarkLogAppendSync(b *testing.B) {
	l, err := wal.Open(b.TempDir(), wal.Options{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	payload := make([]byte, benchValueSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.AppendSync(payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	ls := l.Stats()
	b.ReportMetric(float64(ls.SyncNanos)/float64(max(ls.Syncs, 1))/1000, "us/fsync")
}
