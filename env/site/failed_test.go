package site

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"

	"logship/env"
	"logship/internal/testwait"
	"logship/rep"
	"logship/wal/vfs"
)

// A master whose log can no longer be written (a full disk) halts
// replication: it stops being master, its status says why, the others
// elect a master holding every permanent commit, and it neither acks
// nor syncs afterwards.
func TestFailedStorageHaltsReplication(t *testing.T) {
	bubble(t, func(t *testing.T) {
		s, inj := startInjectedGroup(t, 3, nil)
		m := waitOneMaster(t, 10*time.Second, s)
		var perm []string
		for i := range 5 {
			k := fmt.Sprint("pre", i)
			if repPut(t, m.e, k, "v").Permanent {
				perm = append(perm, k)
			}
		}
		inj[m.id].Inject(vfs.Fault{Op: vfs.OpWrite, Err: syscall.ENOSPC})
		_, err := m.e.Update(t.Context(), func(tx *env.Tx) error { return tx.Put("b", []byte("full"), []byte("v")) })
		if err == nil {
			t.Fatal("a commit on a full disk succeeded")
		}
		failed := time.Now()
		nm := waitOneMaster(t, within, others(s, m))
		t.Logf("site %d master %v after site %d's disk filled", nm.id, time.Since(failed).Round(time.Millisecond), m.id)
		for _, k := range perm {
			if v, ok := viewGet(t, nm.e, "b", k); !ok || v != "v" {
				t.Fatalf("permanent %s lost on the new master", k)
			}
		}
		st := m.status(t)
		if st.Role == rep.RoleMaster || !st.StorageFailed || !errors.Is(st.Err, syscall.ENOSPC) {
			t.Fatalf("failed master's status: role %s storage failed %t err %v", st.Role, st.StorageFailed, st.Err)
		}
		es, err := m.e.ElectStatus()
		if err != nil || !es.Stalled {
			t.Fatalf("failed master's election state: %+v %v", es, err)
		}
		// It takes no further part: new commits do not reach it.
		before := m.e.Stats()
		for i := range 5 {
			repPut(t, nm.e, fmt.Sprint("post", i), "v")
		}
		// Let any message that would reach it arrive: ten ticks of the
		// fake clock, then until every goroutine is idle.
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		after := m.e.Stats()
		if after.AcksSent != before.AcksSent || after.LogRecords != before.LogRecords {
			t.Fatalf("the failed site kept replicating: acks %d -> %d, records %d -> %d",
				before.AcksSent, after.AcksSent, before.LogRecords, after.LogRecords)
		}
	})
}

// A client whose data diverged from the master's (here its kept digest
// is shifted while it is stopped, as a data file copied in by hand or a
// bug in apply would leave it) is named by the master, which compares
// the digest each client reports with its own at the same record.
func TestMasterNamesClientWhoseDataDiffers(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 3, testConfig(), nil)
		s[1].caughtUp(t, within, repPut(t, s[0].e, "a", "1"))
		s[2].caughtUp(t, within, repPut(t, s[0].e, "b", "1"))
		for _, x := range s[0].status(t).Sites {
			if !x.DataMismatch.IsZero() {
				t.Fatalf("site %d reported different before anything diverged: %+v", x.ID, x)
			}
		}
		// Shift site 3's kept digest (format: bucket "meta", key "digest",
		// 8 bytes big-endian): every digest it reports from now on differs
		// from the master's.
		s[2].stop()
		shiftDigest(t, filepath.Join(s[2].dir, "data.db"))
		c := startRepSite(t, net, 3, []SiteID{1, 2, 3}, s[2].dir, testConfig(), nil)
		if err := c.e.StartClient(1); err != nil {
			t.Fatal(err)
		}
		tok := repPut(t, s[0].e, "c", "1")
		c.caughtUp(t, within, tok)
		s[1].caughtUp(t, within, tok)
		testwait.For(t, within, "the master names site 3", func() bool {
			for _, x := range s[0].status(t).Sites {
				switch {
				case x.ID == 3 && !x.DataMismatch.IsZero():
					return true
				case x.ID == 2 && !x.DataMismatch.IsZero():
					t.Fatalf("site 2 named too: %+v", x)
				}
			}
			return false
		})
	})
}

func shiftDigest(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		mb := tx.Bucket([]byte("meta"))
		v := mb.Get([]byte("digest"))
		if len(v) != 8 {
			return fmt.Errorf("meta digest is %d bytes", len(v))
		}
		return mb.Put([]byte("digest"), binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(v)+1))
	}); err != nil {
		t.Fatal(err)
	}
}
