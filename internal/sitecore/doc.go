// Package sitecore is one replication site's logic as a pure state
// machine: the replication protocol (rep), elections (elect) and the
// rules that join them on a site, with the commit gate and the fencing of
// local commits. The replication runtime (env/site) drives it with real
// clocks, disks and transports, and the simulator (rep/sim) drives the
// very same Core with its own; neither keeps a copy of any of it.
//
// The shape is rep's: inputs ([Core.Receive], [Core.Tick],
// [Core.Appended], [Core.Persisted], commands) change the core; every
// side effect comes out of [Core.Ready], whose doc comment is the
// contract the driver carries out, in order, before it calls
// [Core.Advance]. Like rep and elect it has no goroutines, clock, I/O or
// global randomness (tools/importlint checks): time enters as ticks, and
// it reads the local log only through rep's LogReader.
//
// # The rules
//
//   - Envelope: every transport body starts with one byte, 'r' (a rep
//     message follows) or 'e' (an elect message). An elect message must
//     name the sender of the connection it came on.
//   - rep NEWMASTER and HEARTBEAT from another site tell elect a master
//     exists (MasterClaim -> elect.MasterSeen); rep's master-silence
//     report, and the loss of the connection to the master, tell elect
//     the master is gone (MasterLost -> elect.MasterLost).
//   - A site that voted in election E (elect.HardState.Promised) drops
//     the rep messages of masters older than E and sends them no ACK
//     (PromisedAway, AckPromisedAway).
//   - elect decides the role; rep follows (RoleAction): BecomeMaster,
//     StepDown, BecomeClient, or MasterHeard when rep already follows
//     that master.
//   - elect hears the generation and LSN of the last durable record
//     whenever it moves, and, in a group of two data sites and a witness,
//     whether the master is mirrored.
//   - Local commits are admitted only while rep is master. Once it is
//     not, the driver shuts them out under the store's writer mutex
//     before it carries out anything else (Ready.Admit), reports the log
//     end it saw then (Fenced), and rolls back, into a rollback file, the
//     records of commits that got in while rep was changing role
//     (Ready.Rollback): rep never shipped them, and what it does next (a
//     sync with the new master, records appended at its log end) assumes
//     the log ends where rep thinks it does.
//   - A write is allowed while rep is master, local commits are admitted
//     and elect agrees (WriteErr: a lease held, no transfer under way).
//   - A site whose storage failed is halted (Halt): rep stops acting as
//     master and takes no more messages or ticks, elect steps down for
//     good. A site whose log fsync stalls steps down until it completes
//     (StepDown, Recovered).
//   - A witness site runs elect only: rep messages to it are dropped, and
//     the loss of the connection to the master is its sign of a dead
//     master. Data sites give witnesses to elect only.
package sitecore
