package rep

import "testing"

func TestMasterShipsAppendedRecordsToEveryClient(t *testing.T) {
	h := newHarness(t, 3)
	h.group()
	h.put(1, "a", "b", "c")
	h.stabilize()
	h.requireLogsEqual(1, 2)
	h.requireLogsEqual(1, 3)
	for _, id := range []SiteID{2, 3} {
		if st := h.node(id).n.Status(); st.SyncState != SyncReady {
			t.Fatalf("site %d: %v", id, st.SyncState)
		}
		h.requireEvent(id, EventStartupDone)
	}
}
