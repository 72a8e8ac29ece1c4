//go:build !linux

package vfs

// Sync is fsync where fdatasync is not available.
func (f osFile) Sync() error { return f.File.Sync() }

// StartWriteback is a no-op where the platform has no sync_file_range.
func (f osFile) StartWriteback(off, n int64) error { return nil }

// SyncRange is a no-op where the platform has no sync_file_range.
func (f osFile) SyncRange(off, n int64) error { return nil }
