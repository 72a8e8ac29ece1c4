package wal

import "time"

// SyncingSince returns when the log's fsync in progress began, or the zero
// time when none is in progress. It takes no lock, so a caller that is not
// itself syncing (the replication driver, on each tick) can tell a disk
// that has stopped completing fsyncs from one that is merely busy: with
// group commit, one sync is in flight at a time, so a start time far in
// the past means the commits waiting on it cannot become durable.
func (l *Log) SyncingSince() time.Time {
	ns := l.syncStart.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
