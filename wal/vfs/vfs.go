package vfs

import (
	"io"
	"os"
)

// File is an open file. Implementations must be safe for concurrent use of
// ReadAt with a single writer, as *os.File is.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync makes the file's data durable (fdatasync where the platform has
	// it). A failed Sync must be treated as the loss of every unsynced
	// write: the caller may not retry and trust a later success.
	Sync() error
	// Truncate changes the file's size; growing it fills with zeros.
	Truncate(size int64) error
	// Size returns the file's current size in bytes.
	Size() (int64, error)
	// Name returns the name the file was opened with.
	Name() string
}

// FS is a file system. Paths use the host separator (filepath.Join).
type FS interface {
	// OpenFile opens name with os.OpenFile flags (os.O_RDONLY, os.O_RDWR,
	// os.O_CREATE, os.O_EXCL, os.O_TRUNC, os.O_APPEND).
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove removes a file.
	Remove(name string) error
	// Rename atomically replaces newpath with oldpath.
	Rename(oldpath, newpath string) error
	// ReadDir returns the names (not paths) of the entries in dir, sorted.
	ReadDir(dir string) ([]string, error)
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string, perm os.FileMode) error
	// SyncDir makes the creation, removal and renaming of entries in dir
	// durable.
	SyncDir(dir string) error
}

// Open opens name read-only.
func Open(fs FS, name string) (File, error) { return fs.OpenFile(name, os.O_RDONLY, 0) }

// Create creates or truncates name for reading and writing.
func Create(fs FS, name string) (File, error) {
	return fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

// WritebackStarter is an optional File capability: start writing the range
// [off, off+n) back to disk without waiting for it. It is a hint that makes
// nothing durable; callers ignore its errors.
type WritebackStarter interface {
	StartWriteback(off, n int64) error
}

// RangeSyncer is an optional File capability: write the range [off, off+n)
// back to disk and wait for it. Like WritebackStarter it makes nothing
// durable (metadata and the disk's cache are left alone); it bounds how
// much a later Sync has to write.
type RangeSyncer interface {
	SyncRange(off, n int64) error
}
