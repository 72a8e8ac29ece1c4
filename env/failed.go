package env

// Storage failures.
//
// The environment fails for good on an error it cannot recover from
// consistently: a log write or fsync that failed (a full disk, an I/O
// error), a bbolt commit of the applier that failed (data.db on a full
// disk), a file it could not open (no file descriptors left), a damaged
// data file (corrupt.go). Every operation then returns that error
// (Failure). A replication runtime halts the site when it sees it (see
// env/site): a master must not keep the group when it cannot write.

import (
	"fmt"

	"golang.org/x/sys/unix"
)

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
