// Package wal owns logship's write-ahead log: segmented log files, record
// framing and checksums, group commit, readers, truncation (rollback),
// removal of old files (archiving) and crash recovery.
//
// A record is an opaque payload with an [lsn.LSN]: the number of the file
// it lives in and its byte offset there. Records are appended in LSN order
// ([Log.Append], [Log.AppendAt] for a replication client that must mirror
// its master byte for byte), made durable with [Log.Sync] (group commit:
// one fsync covers every record written before it), read back by LSN
// ([Log.Read], [Log.Prev]) or in order ([Log.NewReader]), rolled back
// ([Log.TruncateAfter], [Log.Reset]) and archived ([Log.RemoveBefore]).
// All file access goes through [vfs.FS], so tests can crash the disk or
// inject faults.
//
// # Files
//
// The log is a directory of segment files named log.0000000001,
// log.0000000002, ... with consecutive numbers. A record never spans two
// files; Append starts a new file when a record does not fit in
// [Options.SegmentSize]. An LSN's offset is the record's byte offset in
// its file.
//
// # Writing and group commit
//
// Append frames a record into an in-memory buffer under a mutex and
// returns; a background writer write(2)s each full buffer
// ([Options.BufferSize]) while the next one fills, and an appender waits
// only when two buffers are full. Sync writes what is pending and fsyncs
// (fdatasync) every file written since the last fsync: one caller fsyncs
// for everyone, and the others wait for it or for the next, so concurrent
// committers share fsyncs. Before a new file is created, the previous one
// is fsynced and the directory too.
//
// # Preallocation
//
// On the operating system's file system the log keeps zeros, written and
// fsynced, a little ahead of its writer in the last file
// ([Options.Preallocate]): an fsync that overwrites allocated blocks skips
// the journal commit that growing a file costs, about a third of a
// commit's fsync on ext4. Only a log that fsyncs gets them: the
// preallocator is woken by fsyncs, not by writes, so appending in bulk
// does not write every block twice. Zeros never read as a record. Only
// the last file ever holds them: rolling over trims the old file to its
// records, Close trims the last one, and Open cuts those a crash left
// without calling them a torn write ([Verify] accepts them too).
//
// # On-disk format
//
// All integers are little-endian; CRC is CRC-32C (Castagnoli). Every file
// starts with a 32-byte header ([FileHeaderSize]):
//
//	 0        4        6        8                12               16
//	+--------+--------+--------+----------------+----------------+
//	| magic  | version|reserved|  file number   | first record   |
//	| "LSWL" |  u16=1 | u16=0  |      u32       |  offset u32    |
//	+--------+--------+--------+----------------+----------------+
//	16               20               24               28       32
//	+----------------+----------------+----------------+--------+
//	| previous last  | previous last  | CRC of bytes   |  zero  |
//	| record: file   | record: offset |    [0:24]      |  pad   |
//	+----------------+----------------+----------------+--------+
//
// The first record offset is normally 32; a file made by [Log.Reset] to
// continue at an arbitrary position has a hole of zeros between the
// header and its first record. The previous last record is the LSN of the
// last record of the log before this file (zero if none), so that
// [Log.Prev] crosses files in O(1).
//
// Records follow back to back, each a 12-byte header ([RecordHeaderSize])
// and its payload:
//
//	 0                4                8                12
//	+----------------+----------------+----------------+--------------+
//	|      CRC       | payload length |  prev offset   | payload ...  |
//	|      u32       |      u32       |      u32       |              |
//	+----------------+----------------+----------------+--------------+
//
// prev offset is the offset of the previous record in the same file, or 0
// for a file's first record. The CRC covers, in order, the record's own
// LSN (file u32, offset u32: not stored, fed in first), header bytes
// [4:12] and the payload. Mixing in the LSN means a record that is stale
// (left over past a truncation point) or misplaced does not verify; a
// zero-filled region is rejected by its back link as well (only a file's
// first record may have prev 0). A zero-length payload is allowed.
//
// # Invariants
//
//   - Nothing durable is lost. A record is durable once [Log.Sync] for it
//     returns; Open never drops such a record. Before a new file is
//     created, the previous one is fsynced, data and name, so only the last
//     file can hold a torn write and only the last file is scanned on
//     Open.
//   - Open scans only the last file, so opening is fast however long the
//     log; damage to an earlier file is found when it is read (by LSN, by
//     a Reader, or by Verify), never returned as data.
//   - Torn tail versus corruption. A bad record at the very end of the last
//     file, with nothing valid after it, is a write the crash interrupted:
//     Open cuts it and logs the LSN. A bad record followed by a valid one,
//     or anywhere in an earlier file, is damage: Open refuses with a
//     [*CorruptError] naming the LSN, because going on would silently
//     drop good records. [Verify] reports both, telling them apart.
//   - A failed write or fsync fails the log ([ErrFailed]): the page cache
//     may have dropped the data, and a later fsync that succeeds proves
//     nothing, so no further write is accepted.
//   - A checksum failure is an error naming the LSN; bad bytes are never
//     returned as a record.
package wal
