package sitecore

import (
	"testing"

	"logship/elect"
	"logship/rep"
)

func TestRoleAction(t *testing.T) {
	master := rep.Status{Role: rep.RoleMaster, Gen: 4}
	client := rep.Status{Role: rep.RoleClient, Master: 2, Gen: 4}
	none := rep.Status{}
	for _, tc := range []struct {
		name string
		st   rep.Status
		d    elect.RoleDecision
		want Action
	}{
		{"won, already master of that gen", master, elect.RoleDecision{Role: elect.RoleMaster, Gen: 4}, Nothing},
		{"won a newer gen", master, elect.RoleDecision{Role: elect.RoleMaster, Gen: 5}, BecomeMaster},
		{"won as client", client, elect.RoleDecision{Role: elect.RoleMaster, Gen: 5}, BecomeMaster},
		{"stood down", master, elect.RoleDecision{Role: elect.RoleUnknown, Gen: 4}, StepDown},
		{"client in an election", client, elect.RoleDecision{Role: elect.RoleUnknown, Gen: 4}, Nothing},
		{"follow again the master rep follows", client, elect.RoleDecision{Role: elect.RoleClient, Master: 2, Gen: 4}, MasterHeard},
		{"follow another master", client, elect.RoleDecision{Role: elect.RoleClient, Master: 3, Gen: 4}, BecomeClient},
		{"follow a newer gen", client, elect.RoleDecision{Role: elect.RoleClient, Master: 2, Gen: 5}, BecomeClient},
		{"master told to follow", master, elect.RoleDecision{Role: elect.RoleClient, Master: 2, Gen: 4}, BecomeClient},
		{"no role yet", none, elect.RoleDecision{Role: elect.RoleClient, Master: 2, Gen: 4}, BecomeClient},
	} {
		if got := RoleAction(tc.st, tc.d); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMasterClaim(t *testing.T) {
	for _, tc := range []struct {
		m    rep.Message
		want bool
	}{
		{rep.Message{Type: rep.MsgNewMaster, From: 2, Gen: 3}, true},
		{rep.Message{Type: rep.MsgHeartbeat, From: 2, Gen: 3}, true},
		{rep.Message{Type: rep.MsgHeartbeat, From: 1, Gen: 3}, false}, // from self
		{rep.Message{Type: rep.MsgHeartbeat, From: 2, Gen: 0}, false}, // no generation
		{rep.Message{Type: rep.MsgLog, From: 2, Gen: 3}, false},
	} {
		id, gen, ok := MasterClaim(1, tc.m)
		if ok != tc.want || ok && (id != 2 || gen != 3) {
			t.Errorf("%v: %d %d %v, want %v", tc.m, id, gen, ok, tc.want)
		}
	}
}

func TestMasterLost(t *testing.T) {
	client := rep.Status{Role: rep.RoleClient, Master: 2}
	for _, tc := range []struct {
		st   rep.Status
		ev   rep.Event
		want bool
	}{
		{client, rep.Event{Type: rep.EventMasterSilent, Site: 2}, true},
		{client, rep.Event{Type: rep.EventConnectBroken, Site: 2}, true},
		{client, rep.Event{Type: rep.EventConnectBroken, Site: 3}, false}, // another client's connection
		{rep.Status{Role: rep.RoleMaster}, rep.Event{Type: rep.EventConnectBroken, Site: 2}, false},
		{client, rep.Event{Type: rep.EventRollback}, false},
	} {
		if got := MasterLost(tc.st, tc.ev); got != tc.want {
			t.Errorf("%v on %+v: %v, want %v", tc.ev, tc.st, got, tc.want)
		}
	}
}

func TestPromisedAway(t *testing.T) {
	for _, tc := range []struct {
		m    rep.Message
		want bool
	}{
		{rep.Message{Type: rep.MsgLog, Gen: 3}, true},
		{rep.Message{Type: rep.MsgHeartbeat, Gen: 3}, true},
		{rep.Message{Type: rep.MsgLog, Gen: 5}, false}, // the promised election's master
		{rep.Message{Type: rep.MsgLog, Gen: 0}, false},
		{rep.Message{Type: rep.MsgNewClient, Gen: 3}, false},
		{rep.Message{Type: rep.MsgMasterReq, Gen: 3}, false},
	} {
		if got := PromisedAway(5, tc.m); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.m, got, tc.want)
		}
	}
	if !AckPromisedAway(5, rep.Message{Type: rep.MsgAck, Gen: 4}) || AckPromisedAway(5, rep.Message{Type: rep.MsgAck, Gen: 5}) ||
		AckPromisedAway(5, rep.Message{Type: rep.MsgLog, Gen: 4}) {
		t.Error("AckPromisedAway: withhold exactly the ACKs to a master older than the promise")
	}
}
