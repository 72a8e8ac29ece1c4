package rep

import "testing"

func TestRecordsAppendedTogetherTravelInOneLogMessage(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	h.sent = nil
	h.put(1, "a", "b", "c")
	h.stabilize()
	if n := h.count(MsgLog, 1, 2); n != 1 {
		t.Fatalf("LOG messages = %d, want 1 (bulk)", n)
	}
	if s := h.node(1).n.Stats(); s.BulkTransfers != 1 || s.LogRecordsSent != 3 {
		t.Fatalf("stats %+v", s)
	}
	h.requireLogsEqual(1, 2)
}

func TestBulkMessageIsBoundedByBulkBytes(t *testing.T) {
	h := newHarness(t, 2, func(_ SiteID, c *Config) { c.BulkBytes = 60 })
	h.group()
	h.sent = nil
	// Each record counts len+24 = 30 bytes: two fit in 60.
	h.put(1, "aaaaaa", "bbbbbb", "cccccc", "dddddd", "eeeeee")
	h.stabilize()
	if n := h.count(MsgLog, 1, 2); n != 3 {
		t.Fatalf("LOG messages = %d, want 3", n)
	}
	h.requireLogsEqual(1, 2)
}

func TestBulkOffSendsOneRecordPerMessage(t *testing.T) {
	h := newHarness(t, 2, func(_ SiteID, c *Config) { c.Bulk = false })
	h.group()
	h.sent = nil
	h.put(1, "a", "b", "c")
	h.stabilize()
	if n := h.count(MsgLog, 1, 2); n != 3 {
		t.Fatalf("LOG messages = %d, want 3", n)
	}
}

func TestThrottledCatchUpMovesAtLeastOneRecordPerPass(t *testing.T) {
	// Throttle smaller than any record: every pass still moves one.
	h := newHarness(t, 2, func(_ SiteID, c *Config) { c.ThrottleBytes = 10 })
	h.master(1)
	h.putN(1, 20, "rec")
	h.stabilize() // site 2 is not started: it drops the live records
	h.sent = nil
	h.client(2, 1)
	h.stabilize()
	h.requireLogsEqual(1, 2)
	s := h.node(1).n.Stats()
	if s.Throttles != 19 {
		t.Fatalf("Throttles = %d, want 19 (20 passes of one record)", s.Throttles)
	}
	if got := h.count(MsgLogMore, 1, 2); got != 19 {
		t.Fatalf("LOG_MORE = %d", got)
	}
	h.requireEvent(2, EventStartupDone)
}

func TestThrottleBoundsBytesPerPass(t *testing.T) {
	h := newHarness(t, 2, func(_ SiteID, c *Config) { c.ThrottleBytes = 100 })
	h.master(1)
	h.putN(1, 30, "r")
	h.stabilize()
	h.sent = nil
	h.client(2, 1)
	h.stabilize()
	h.requireLogsEqual(1, 2)
	// 26-byte records, 100-byte passes: 4 records per pass.
	if got := h.count(MsgLogReq, 2, 1); got != 8 {
		t.Fatalf("LOG_REQ = %d, want 8", got)
	}
}

func TestMasterSendsHeartbeatsWhenIdle(t *testing.T) {
	h := newHarness(t, 2, func(_ SiteID, c *Config) { c.HeartbeatTicks = 5; c.HeartbeatMonitorTicks = 20 })
	h.group()
	h.sent = nil
	h.tick(4)
	if n := h.count(MsgHeartbeat, 1, 2); n != 0 {
		t.Fatalf("heartbeat before HeartbeatTicks: %d", n)
	}
	h.tick(1)
	if n := h.count(MsgHeartbeat, 1, 2); n != 1 {
		t.Fatalf("heartbeats = %d, want 1", n)
	}
	h.put(1, "x") // activity postpones the next heartbeat
	h.tick(4)
	if n := h.count(MsgHeartbeat, 1, 2); n != 1 {
		t.Fatalf("heartbeats = %d after activity, want 1", n)
	}
}

func TestClientReportsSilentMaster(t *testing.T) {
	h := newHarness(t, 2, func(_ SiteID, c *Config) { c.HeartbeatTicks = 5; c.HeartbeatMonitorTicks = 20 })
	h.group()
	h.tick(50)
	if h.hasEvent(2, EventMasterSilent) {
		t.Fatal("silent while heartbeats flow")
	}
	h.partition(1, 2)
	h.tick(20)
	e := h.requireEvent(2, EventMasterSilent)
	if e.Site != 1 {
		t.Fatalf("event %v", e)
	}
	h.tick(40)
	if s := h.node(2).n.Stats(); s.MasterSilent != 1 {
		t.Fatalf("MasterSilent = %d, want one per silence", s.MasterSilent)
	}
}

func TestMasterHeardRestartsMonitor(t *testing.T) {
	h := newHarness(t, 2, func(_ SiteID, c *Config) { c.HeartbeatTicks = 5; c.HeartbeatMonitorTicks = 20 })
	h.group()
	h.partition(1, 2)
	h.tick(20)
	h.requireEvent(2, EventMasterSilent)
	c := h.node(2).n
	gen := c.Status().Gen
	c.MasterHeard(3, gen)   // not its master: no effect
	c.MasterHeard(1, gen+1) // not its master's generation: no effect
	h.tick(40)
	if s := c.Stats(); s.MasterSilent != 1 {
		t.Fatalf("MasterSilent = %d after MasterHeard of another master, want 1", s.MasterSilent)
	}
	c.MasterHeard(1, gen)
	h.tick(19)
	if s := c.Stats(); s.MasterSilent != 1 {
		t.Fatalf("MasterSilent = %d before the monitor ran out again, want 1", s.MasterSilent)
	}
	h.tick(1)
	if s := c.Stats(); s.MasterSilent != 2 {
		t.Fatalf("MasterSilent = %d, want a second report once the master stays silent", s.MasterSilent)
	}
}

func TestAppendedOnClientIsErrNotMaster(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	if err := h.node(2).n.Appended([]Record{{LSN: h.node(1).log.End()}}); err != ErrNotMaster {
		t.Fatalf("err = %v", err)
	}
}
