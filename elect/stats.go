package elect

import "reflect"

// Stats are the node's counters, modeled on Berkeley DB's rep_stat
// election fields. Every field is a monotonic counter.
type Stats struct {
	MsgsSent    uint64 // handed to the driver to send
	MsgsRecv    uint64 // stepped
	MsgsIgnored uint64 // dropped as stale or meaningless now

	Elections       uint64 // elections entered (st_elections)
	ElectionsWon    uint64 // (st_elections_won)
	ElectionsFailed uint64 // timed out without a winner
	Vote1Sent       uint64
	Vote1Recv       uint64
	Vote2Sent       uint64 // votes cast for another site
	Vote2Recv       uint64
	MasterChanges   uint64 // (st_master_changes)
	DupMasters      uint64 // (st_dupmasters)

	LeaseReqsSent   uint64
	LeaseGrantsSent uint64
	LeaseGrantsRecv uint64
	LeaseRefused    uint64 // lease requests refused (old generation, or bound by a vote)
	LeasesExpired   uint64 // times a master lost its majority of grants

	GrantReqsSent uint64 // status-agent requests (data master)
	GrantsGiven   uint64 // (witness)
	GrantsRefused uint64 // (witness)

	Transfers       uint64
	TransfersDone   uint64
	TransfersFailed uint64
}

// Sub returns the counters accumulated since prev.
func (s Stats) Sub(prev Stats) Stats {
	out := s
	ov, pv := reflect.ValueOf(&out).Elem(), reflect.ValueOf(prev)
	for i := range ov.NumField() {
		f := ov.Field(i)
		f.SetUint(f.Uint() - pv.Field(i).Uint())
	}
	return out
}
