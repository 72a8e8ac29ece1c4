package site

import (
	"sync/atomic"
	"testing"

	"logship/rep"
)

// TestDriverStatusSaysInstallingWhileTheSnapshotIsInstalled: between the
// last chunk of an internal init and the next publish, the loop installs
// the snapshot; meanwhile Status says so (repadmin sync --wait shows
// "installing"), with the copy complete, and not a chunk short. The
// InitDone event is delivered on the loop after the install and before
// that publish, so it sees what a caller saw during the install.
func TestDriverStatusSaysInstallingWhileTheSnapshotIsInstalled(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		var (
			client atomic.Pointer[Site]
			seen   atomic.Pointer[Status]
		)
		s := startGroup(t, net, 2, testConfig(), func(id SiteID, c *Config) {
			c.AckPolicy = rep.AckNone
			if id != 2 {
				return
			}
			c.OnEvent = func(ev Event) {
				if ev.Rep != nil && ev.Rep.Type == rep.EventInitDone {
					if cs := client.Load(); cs != nil {
						st := cs.Status()
						seen.Store(&st)
					}
				}
			}
		})
		client.Store(s[1].e)
		tok := leaveBehind(t, net, s)
		net.setLink(1, 2, true)
		s[1].caughtUp(t, within, tok)

		st := seen.Load()
		if st == nil {
			t.Fatal("no InitDone event seen on the client")
		}
		if !st.Installing || st.SyncState != rep.SyncInit || st.InitTotal == 0 || st.InitDone != st.InitTotal {
			t.Fatalf("status during the install: installing %v, sync %s, init %d/%d; want installing, init, the whole copy",
				st.Installing, st.SyncState, st.InitDone, st.InitTotal)
		}
		if after := s[1].status(t); after.Installing {
			t.Fatal("Installing still set after the client caught up")
		}
	})
}
