package env

import (
	"bytes"
	"testing"

	"logship/rep"
	"logship/wal/lsn"
)

// Install with a discard point first writes exactly the log's records
// after it to a durable rollback file, readable like a rollback's, then
// replaces the data by the snapshot.
func TestInstallKeepsTheRecordsAfterDiscardInARollbackFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep func(toks []Token) lsn.LSN // the discard point
		want int                        // records kept: the last ones of toks
	}{
		{"after the first", func(toks []Token) lsn.LSN { return toks[0].LSN }, 2},
		{"zero: the whole log", func([]Token) lsn.LSN { return lsn.Zero }, 3},
		{"the last record: nothing", func(toks []Token) lsn.LSN { return toks[2].LSN }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := openTest(t, t.TempDir(), testConfig())
			put(t, src, "b", "master", "m")
			var snap bytes.Buffer
			at, err := src.Snapshot(&snap)
			if err != nil {
				t.Fatal(err)
			}
			info := rep.SnapInfo{ID: 7, LSN: at, Size: int64(snap.Len())}

			dir := t.TempDir()
			e := openTest(t, dir, testConfig())
			r := e.Replica()
			r.SetSite(4)
			toks := []Token{put(t, e, "b", "own1", "x"), put(t, e, "b", "own2", "y"), put(t, e, "b", "own3", "z")}
			if err := r.WriteChunk(rep.Chunk{Snap: info, Data: snap.Bytes()}); err != nil {
				t.Fatal(err)
			}
			discard := tc.keep(toks)
			if err := r.Install(rep.Install{Snap: info, Discard: discard}); err != nil {
				t.Fatal(err)
			}

			files, err := RollbackFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == 0 {
				if len(files) != 0 {
					t.Fatalf("rollback files %v, want none", files)
				}
			} else {
				if len(files) != 1 {
					t.Fatalf("rollback files %v, want one", files)
				}
				var got []lsn.LSN
				var keys []string
				err := ReadRollbackFile(files[0], func(h RollbackHeader, rec RollbackRecord) error {
					if h.Site != 4 || h.To != discard || h.From != toks[2].LSN || int(h.Count) != tc.want {
						t.Fatalf("header %+v", h)
					}
					_, ops, err := rec.Ops()
					if err != nil {
						return err
					}
					got = append(got, rec.LSN)
					keys = append(keys, string(ops[0].Key))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				var want []lsn.LSN
				for _, tok := range toks[3-tc.want:] {
					want = append(want, tok.LSN)
				}
				if len(got) != len(want) || got[0] != want[0] || got[len(got)-1] != want[len(want)-1] {
					t.Fatalf("kept %v (%v), want %v", got, keys, want)
				}
			}
			if _, ok := viewGet(t, e, "b", "own1"); ok {
				t.Fatal("the site's own write survived the install")
			}
			if v, ok := viewGet(t, e, "b", "master"); !ok || v != "m" {
				t.Fatalf("snapshot data: %q %v", v, ok)
			}
		})
	}
}
