package env

// A site whose storage failed.
//
// The environment fails for good on an error it cannot recover from
// consistently: a log write or fsync that failed (a full disk, an I/O
// error), a bbolt commit of the applier that failed (data.db on a full
// disk), a file it could not open (no file descriptors left). Every
// operation then returns that error. A master in that state must not
// keep the group: its heartbeats would stop the others from electing a
// master that can write. So, as for a stalled fsync (stall.go), the
// driver halts replication as soon as it sees the failure: rep stops
// acting as master (no more heartbeats; its clients notice the silence
// and elect another master) and takes no more part at all, so a client
// neither acknowledges nor starts a sync or an internal init onto a disk
// it cannot write; elect steps down for good (StepDown: it never
// campaigns again, and votes only for a candidate at least as up to date
// as its durable log, which may hold commits reported permanent);
// commits waiting for their ack policy are reported not permanent. The
// status says why (RepStatus.StorageFailed and Err), and so do the log
// and the metrics. The site takes part again once the cause is repaired
// and it is restarted: Open recovers the log as after a crash.

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// checkFailed halts replication once the environment has failed. Called
// on each tick.
func (d *driver) checkFailed() {
	if d.halted {
		return
	}
	err := d.e.failure()
	if err == nil {
		return
	}
	d.halted = true
	role := d.n.Status().Role
	d.log.Error("env: storage failed: this site stops replicating until it is repaired and restarted",
		"role", role.String(), "err", err)
	if d.el != nil {
		d.el.n.StepDown()
	}
	d.n.StepDown()
	d.failWaiters()
}

// checkSpace fails when the file system holding the environment has less
// than need bytes free: an internal init does not start writing a
// snapshot onto a disk that cannot hold it (the site would fail half way
// through, with a disk full of a useless partial copy).
func (e *Env) checkSpace(need int64) error {
	var fs unix.Statfs_t
	if err := unix.Statfs(e.dir, &fs); err != nil {
		return nil // cannot tell: let the writes say
	}
	if free := int64(fs.Bavail) * fs.Bsize; free < need {
		return fmt.Errorf("%w: %s has %d bytes free, %d needed", ErrNoSpace, e.dir, free, need)
	}
	return nil
}
