// Package lsn owns the log sequence number, the position of a record in a
// logship write-ahead log.
//
// An LSN is the pair (file, offset): the number of the log segment file and
// the byte offset of the record's first byte inside it, exactly as in
// Berkeley DB. LSNs are totally ordered, first by file and then by offset,
// and print as "file/offset" ("3/4096"), which is also the form [Parse]
// accepts and the form every message, record and log line uses.
//
// The zero LSN ("0/0") is not a record position: segment files are numbered
// from 1. It means "none" or "before the first record".
package lsn
