// Package vfs owns the file-system interface that all log file I/O goes
// through, so that tests can replace the disk.
//
// Three implementations live here:
//
//   - [OS]: the real file system (Sync is fdatasync on Linux).
//   - [NewMem]: an in-memory file system that remembers which bytes were
//     made durable by Sync and can [MemFS.Crash]: everything not synced is
//     lost (optionally leaving a torn, partly written tail), the way a power
//     failure loses the page cache.
//   - [NewInjector]: a wrapper around any FS that fails chosen operations
//     (short writes, fsync errors, ...) on demand.
//
// The interface is deliberately small: what a segmented append-only log
// needs and nothing more.
package vfs
