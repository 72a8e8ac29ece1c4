package site

import "logship/rep"

// publishInstalling shows, while the loop installs a received snapshot,
// that the copy is complete and the install under way. The core moves on
// to catch-up as the last chunk arrives, and the loop publishes only
// after carrying out the Ready that installs, so without this the status
// would show the copy a chunk short for as long as the install takes (a
// fsync and a swap of the whole data file). The next publish replaces
// the whole status, clearing Installing.
func (s *Site) publishInstalling(size int64) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.status.SyncState, s.status.Lockout = rep.SyncInit, true
	s.status.InitDone, s.status.InitTotal, s.status.Installing = size, size, true
}
