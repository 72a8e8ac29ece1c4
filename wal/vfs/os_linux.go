package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

func (f osFile) Sync() error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
		}
		return nil
	}
}

// StartWriteback asks the kernel to start writing [off, off+n) to disk
// without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE), so that a
// later Sync finds less to do. It makes nothing durable.
func (f osFile) StartWriteback(off, n int64) error {
	return unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// SyncRange writes [off, off+n) back to disk and waits for it
// (sync_file_range with WAIT_BEFORE, WRITE and WAIT_AFTER). It makes
// nothing durable: the file's metadata and the disk's cache are left
// alone, so Sync is still needed. The log uses it to keep the zeros it
// preallocates from piling up in the page cache.
func (f osFile) SyncRange(off, n int64) error {
	return unix.SyncFileRange(int(f.Fd()), off, n,
		unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
}
