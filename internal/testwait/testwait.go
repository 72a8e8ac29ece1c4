package testwait

import (
	"testing"
	"time"
)

// Poll checks cond every interval until it holds, and fails t if it
// still does not after within. Inside a testing/synctest bubble the
// waits are on the bubble's clock.
func Poll(t testing.TB, within, every time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}

// For is Poll every 2 ms: for conditions in one process, which change
// fast.
func For(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	Poll(t, within, 2*time.Millisecond, what, cond)
}
