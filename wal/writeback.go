package wal

import "logship/wal/vfs"

// writebackMin is the smallest write after which the writer asks the
// kernel to start writing the range back to disk. Without it, a file's
// data sits in the page cache until the fsync that seals the file, which
// then stalls the writer for the whole file; started early, the fsync
// finds little left to do. Small writes are left alone: Sync follows them
// anyway.
const writebackMin = 256 << 10

// startWriteback starts writeback of a range of f if its file system can.
func startWriteback(f vfs.File, off, n int64) {
	if w, ok := f.(vfs.WritebackStarter); ok {
		_ = w.StartWriteback(off, n)
	}
}
