package site

import "time"

// takeSnapshot carries out Ready.TakeSnapshot off the loop: taking one
// waits for the applier and walks the data file's pages (env/snaptx.go),
// which takes long on a large store, and the loop meanwhile sends the
// heartbeats, runs the elections and ships the commits that keep this
// site master. The snapshot comes back to the loop as a command, which
// hands it to the core; the serving itself (one chunk per PAGE_REQ, one
// bounded pass per LOG_REQ) stays on the loop, each step short.
func (s *Site) takeSnapshot() {
	job := s.r.PrepareSnapshot()
	s.snaps.Add(1)
	go func() {
		defer s.snaps.Done()
		began := time.Now()
		t, err := job.Take()
		back := func() {
			if err != nil {
				s.storageFailed("taking a snapshot for internal init", err)
				return
			}
			s.r.Adopt(t)
			s.log.Info("rep: snapshot taken for internal init", "lsn", t.Info.LSN.String(), "bytes", t.Info.Size,
				"took", time.Since(began).Round(time.Millisecond).String())
			if err := s.c.SnapshotTaken(t.Info, t.Reader); err != nil {
				_ = s.r.ReleaseSnapshot(t.Info.ID)
			}
		}
		select {
		case s.cmds <- back:
		case <-s.done:
			if t != nil {
				t.Discard()
			}
		}
	}()
}
