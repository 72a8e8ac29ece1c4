// Package repelect holds the rules that join the replication protocol
// (rep) and elections (elect) on one site: which rep messages and events
// elect must hear, which rep messages a vote forbids, and what rep does
// for each role elect decides.
//
// The env driver and the simulator (rep/sim) both carry these rules out,
// each with its own storage, logging and checks. They live here, once, so
// that the two cannot drift apart: a fix to how the layers meet is made in
// one place and the simulator's seeds test what the driver runs.
package repelect
