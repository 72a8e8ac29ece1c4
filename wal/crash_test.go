package wal

import (
	"io"
	"math/rand/v2"
	"testing"

	"logship/wal/lsn"
)

// TestMemCrash runs rounds of appends and syncs on a MemFS, crashing at
// random moments (losing unsynced writes, or keeping a torn prefix of
// them), and checks after every reopen that every record whose Sync
// returned is there, intact and in order, and that appends go on.
func TestMemCrash(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		o, fs := memOpts()
		o.BufferSize = 1 + rng.IntN(2000)
		var ats []lsn.LSN // LSNs of records 0..len-1, as last read back
		acked := 0        // records 0..acked-1 were synced
		for round := range 8 {
			l := mustOpen(t, testDir, o)
			// Everything read back must be the records appended, in
			// order: an unsynced suffix may or may not survive.
			r, err := l.NewReader(lsn.Zero)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for ; ; n++ {
				rec, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil || n >= len(ats) || rec.LSN != ats[n] || string(rec.Payload) != string(payload(n)) {
					t.Fatalf("seed %d round %d: record %d: %s %v (want %d records at least)", seed, round, n, rec.LSN, err, acked)
				}
			}
			if n < acked {
				t.Fatalf("seed %d round %d: %d records after the crash, but %d were synced", seed, round, n, acked)
			}
			ats = ats[:n]
			acked = n
			for range rng.IntN(200) {
				at, err := l.Append(payload(len(ats)))
				if err != nil {
					t.Fatal(err)
				}
				ats = append(ats, at)
				if rng.IntN(10) == 0 {
					if err := l.Sync(at); err != nil {
						t.Fatal(err)
					}
					acked = len(ats)
				}
			}
			if rng.IntN(2) == 0 {
				fs.Crash()
			} else {
				fs.CrashTorn(rng)
			}
		}
	}
}
