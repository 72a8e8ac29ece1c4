package rep

import "testing"

func TestDroppedLogIsRepairedByGapRequest(t *testing.T) {
	h := newHarness(t, 3)
	h.group()
	restore := h.dropType(MsgLog, 2)
	h.put(1, "a")
	h.stabilize()
	restore()
	h.put(1, "b", "c")
	h.stabilize()
	h.requireLogsEqual(1, 2)
	h.requireLogsEqual(1, 3)
	s := h.node(2).n.Stats()
	if s.Gaps != 1 || s.LogQueued != 2 || s.LogRequested != 2 { // 1 at sync + 1 for the gap
		t.Fatalf("stats: gaps %d queued %d requested %d", s.Gaps, s.LogQueued, s.LogRequested)
	}
}

func TestDuplicateAndStaleRecordsAreIgnored(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	h.put(1, "a", "b")
	h.stabilize()
	// Deliver the same LOG twice more.
	var log Message
	for _, m := range h.sent {
		if m.Type == MsgLog && len(m.Records) == 2 {
			log = m
		}
	}
	for range 2 {
		h.node(2).n.Step(log)
		h.process(2)
	}
	h.stabilize()
	h.requireLogsEqual(1, 2)
	if s := h.node(2).n.Stats(); s.LogDuplicated != 4 || s.LogRecords != 2 {
		t.Fatalf("duplicated %d records %d", s.LogDuplicated, s.LogRecords)
	}
}

func TestLostTailIsRecoveredByHeartbeat(t *testing.T) {
	h := newHarness(t, 2, func(_ SiteID, c *Config) { c.HeartbeatTicks = 10; c.HeartbeatMonitorTicks = 30 })
	h.group()
	restore := h.dropType(MsgLog, 2)
	h.put(1, "last")
	h.stabilize()
	restore()
	h.tick(10)
	h.requireLogsEqual(1, 2)
}

func TestGapRequestRetriesWithDoublingBackOff(t *testing.T) {
	h := newHarness(t, 2, func(_ SiteID, c *Config) {
		c.RequestMinTicks, c.RequestMaxTicks, c.HeartbeatTicks = 2, 8, 0
	})
	h.group()
	restore := h.dropType(MsgLog, 2)
	h.put(1, "a")
	h.stabilize()
	restore()
	// Requests are lost: record when each is sent.
	h.drop = func(m Message) bool { return m.Type == MsgLogReq }
	h.put(1, "b")
	var at []int
	for tick := 0; tick < 40; tick++ {
		before := h.node(2).n.Stats().LogRequested
		h.tick(1)
		if h.node(2).n.Stats().LogRequested > before {
			at = append(at, tick+1)
		}
	}
	// The gap is seen when "b" is delivered (tick 1) and requested at
	// once; then waits 2, 4, 8, 8, 8... ticks.
	want := []int{1, 3, 7, 15, 23, 31, 39}
	if len(at) != len(want) {
		t.Fatalf("re-requests at ticks %v, want %v", at, want)
	}
	for i := range want {
		if at[i] != want[i] {
			t.Fatalf("re-requests at ticks %v, want %v", at, want)
		}
	}
	h.drop = nil
	h.tick(8)
	h.requireLogsEqual(1, 2)
}

func TestGapBufferIsBounded(t *testing.T) {
	h := newHarness(t, 2, func(_ SiteID, c *Config) { c.GapBufferBytes = 10; c.HeartbeatTicks = 5; c.HeartbeatMonitorTicks = 50 })
	h.group()
	restore := h.dropType(MsgLog, 2)
	h.put(1, "first")
	h.stabilize()
	restore()
	h.drop = func(m Message) bool { return m.Type == MsgLogReq }
	for _, p := range []string{"aaaa", "bbbb", "cccc", "dddd"} {
		h.put(1, p)
	}
	h.stabilize()
	if s := h.node(2).n.Stats(); s.LogQueueDropped == 0 || s.LogQueuedMax > 2 {
		t.Fatalf("dropped %d max queued %d", s.LogQueueDropped, s.LogQueuedMax)
	}
	h.drop = nil
	h.tick(20)
	h.requireLogsEqual(1, 2)
}

func TestRecordsAcrossSegmentBoundaryAreContiguous(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	h.putN(1, 40, "segment-crossing-") // 256-byte segments: several files
	h.stabilize()
	if h.node(1).log.Last().File < 3 {
		t.Fatalf("test needs several segments, last %s", h.node(1).log.Last())
	}
	h.requireLogsEqual(1, 2)
	if s := h.node(2).n.Stats(); s.Gaps != 0 {
		t.Fatalf("a segment switch was taken for a gap")
	}
}
