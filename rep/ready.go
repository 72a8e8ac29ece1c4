package rep

import (
	"fmt"

	"logship/wal/lsn"
)

// Ready carries every side effect the node asks of its driver since the
// last Advance. The driver carries the fields out IN THIS ORDER, then
// calls Advance(rd):
//
//  1. Rollback: undo every transaction after Rollback.To (env.RollbackTo),
//     first writing the removed records, with their LSNs and generation,
//     to the rollback file; truncate the log after To. Durable before 3.
//  2. Chunks: write each snapshot chunk at its Offset into the incoming
//     snapshot file for its Snap.ID (Offset 0 starts a new file,
//     discarding any partial one).
//  3. Install: first write the local log's records after Install.Discard
//     to a rollback file, as for Rollback (durable); then replace the
//     data by the received snapshot Install.Snap and reset the log so the
//     next record follows Install.Snap.LSN (env.InstallSnapshot). Durable
//     before 4.
//  4. Append: write each record at its LSN (wal.AppendAt), in order. They
//     need not be fsynced before 5: the driver fsyncs when it likes and
//     then calls Persisted(last durable LSN); only then does the client
//     acknowledge them.
//  5. Messages: send each to its To site. Sending may fail or drop; the
//     protocol retransmits. The driver calls PeerDown for a broken
//     connection and PeerUp when it is back.
//  6. TakeSnapshot: take a consistent snapshot (env.Snapshot) into a file
//     and call SnapshotTaken. ReleaseSnapshots: delete those snapshot files.
//  7. Commits: complete the waiting commit at each LSN with its result
//     (permanent or not; a non-permanent commit stays committed).
//  8. Events and Status: publish (metrics, logs, /v1/status). Status is
//     non-nil only when it changed; the driver gates operations on it
//     (Lockout) and fails them with Status.Err when set.
type Ready struct {
	Rollback         *Rollback
	Chunks           []Chunk
	Install          *Install
	Append           []Record
	Messages         []Message
	TakeSnapshot     bool
	ReleaseSnapshots []uint64
	Commits          []CommitResult
	Events           []Event
	Status           *Status
}

// Empty reports whether rd asks nothing of the driver.
func (rd Ready) Empty() bool {
	return rd.Rollback == nil && len(rd.Chunks) == 0 && rd.Install == nil && len(rd.Append) == 0 &&
		len(rd.Messages) == 0 && !rd.TakeSnapshot && len(rd.ReleaseSnapshots) == 0 &&
		len(rd.Commits) == 0 && len(rd.Events) == 0 && rd.Status == nil
}

// Rollback asks the driver to undo the log after To. From is the last
// record being undone (for the rollback file header and logs).
type Rollback struct {
	To, From lsn.LSN
}

// Chunk is snapshot data for internal init.
type Chunk struct {
	Snap   SnapInfo
	Offset int64
	Data   []byte
}

// InitResume is how far a client got receiving a snapshot (Config.Resume).
type InitResume struct {
	Snap   SnapInfo
	Offset int64
	// From is the site that sent it; 0 (as after a restart): whichever
	// site offers the same snapshot (ID, LSN and size).
	From SiteID
}

// Install asks the driver to install the completely received snapshot.
type Install struct {
	Snap SnapInfo
	// Discard: the local log's records after it are the client's own
	// that the master may not hold (rep/discard.go); the install throws
	// them away, so the driver writes them to a rollback file first.
	// Zero means every record the log holds. A client whose log is the
	// master's sets its last record: nothing to keep.
	Discard lsn.LSN
}

// CommitResult is the outcome for a commit record appended with Perm.
type CommitResult struct {
	LSN       lsn.LSN
	Permanent bool
}

// EventType names an Event.
type EventType uint8

const (
	// EventNewMaster: the site learned of a (new) master: Site, Gen.
	EventNewMaster EventType = iota + 1
	// EventStartupDone: the client has caught up with its master.
	EventStartupDone
	// EventPermFailed: the commit at LSN missed its ack policy in time.
	EventPermFailed
	// EventJoinFailure: too far behind and NoAutoInit is set.
	EventJoinFailure
	// EventConnectBroken: the connection to Site broke (PeerDown).
	EventConnectBroken
	// EventMasterSilent: nothing heard from master Site for
	// HeartbeatMonitorTicks. Reported once per silence; MasterHeard
	// starts a new one.
	EventMasterSilent
	// EventRollback: the log after LSN is being rolled back: to the sync
	// point, or discarded by an internal init (Install.Discard).
	EventRollback
	// EventSyncDelayed: a new master is known but DelayClient holds the
	// sync until Sync is called.
	EventSyncDelayed
	// EventInitStarted / EventInitDone: internal init began / the snapshot
	// at LSN is complete and installed.
	EventInitStarted
	EventInitDone
	// EventDupMaster: another site claims to be master of Gen.
	EventDupMaster
	// EventInitFailed: an internal init was given up because the log
	// written since its snapshot exceeded InitRetainMaxBytes. On the
	// serving site (master or peer) Site is the client and LSN the
	// retention point dropped; on the client Site is its master, LSN the
	// snapshot's, and Status.Err wraps ErrInitAbandoned.
	EventInitFailed
	// EventRollbackRefused: syncing with master Site would discard this
	// client's log after LSN, more than MaxRollbackBytes; the client
	// stopped in SyncRollbackRefused (Status.Err wraps
	// ErrRollbackRefused).
	EventRollbackRefused
)

var eventNames = [...]string{"", "NewMaster", "StartupDone", "PermFailed", "JoinFailure",
	"ConnectBroken", "MasterSilent", "Rollback", "SyncDelayed", "InitStarted", "InitDone", "DupMaster", "InitFailed",
	"RollbackRefused"}

func (t EventType) String() string {
	if int(t) < len(eventNames) && t != 0 {
		return eventNames[t]
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is something the application or operator may want to know.
type Event struct {
	Type EventType
	Site SiteID
	Gen  uint64
	LSN  lsn.LSN
}

func (e Event) String() string {
	return fmt.Sprintf("%s site=%d gen=%d lsn=%s", e.Type, e.Site, e.Gen, e.LSN)
}

// HasReady reports whether Ready would return anything. The driver asks
// after every input, so it looks at the queued effects before building a
// Status.
func (n *Node) HasReady() bool {
	return !n.effects().Empty() || n.Status() != n.out.lastStatus
}

// Ready returns the side effects accumulated since the last Advance. It
// does not change the node; calling it twice returns the same effects.
func (n *Node) Ready() Ready {
	rd := n.effects()
	if st := n.Status(); st != n.out.lastStatus {
		rd.Status = &st
	}
	return rd
}

// effects is Ready without the Status.
func (n *Node) effects() Ready {
	return Ready{
		Rollback:         n.out.rollback,
		Chunks:           n.out.chunks,
		Install:          n.out.install,
		Append:           n.out.appends,
		Messages:         n.out.msgs,
		TakeSnapshot:     n.out.takeSnap,
		ReleaseSnapshots: n.out.releaseSnaps,
		Commits:          n.out.commits,
		Events:           n.out.events,
	}
}

// Advance tells the node the driver carried out rd. Effects produced by
// inputs given between Ready and Advance (say, SnapshotTaken called while
// carrying out rd) are kept for the next Ready.
func (n *Node) Advance(rd Ready) {
	o := &n.out
	if rd.Status != nil {
		o.lastStatus = *rd.Status
	}
	n.stats.MsgsSent += uint64(len(rd.Messages))
	if o.rollback == rd.Rollback {
		o.rollback = nil
	}
	if o.install == rd.Install {
		o.install = nil
	}
	if rd.TakeSnapshot {
		o.takeSnap = false
	}
	o.chunks = dropPrefix(o.chunks, len(rd.Chunks))
	o.releaseSnaps = dropPrefix(o.releaseSnaps, len(rd.ReleaseSnapshots))
	o.appends = dropPrefix(o.appends, len(rd.Append))
	o.msgs = dropPrefix(o.msgs, len(rd.Messages))
	o.commits = dropPrefix(o.commits, len(rd.Commits))
	o.events = dropPrefix(o.events, len(rd.Events))
}

// dropPrefix removes the first k elements, releasing the backing array
// when nothing is left.
func dropPrefix[T any](s []T, k int) []T {
	if k >= len(s) {
		return nil
	}
	return append([]T(nil), s[k:]...)
}
