package testwait

import (
	"testing"
	"testing/synctest"
	"time"
)

// fakeT records a failure instead of ending the test.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = format
	panic(f) // Fatalf does not return
}

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		For(t, time.Second, "the clock", func() bool { return time.Since(start) >= 100*time.Millisecond })
		if d := time.Since(start); d < 100*time.Millisecond || d > 110*time.Millisecond {
			t.Fatalf("returned after %v, want about 100ms", d)
		}
	})
}

func TestPollFailsNamingWhatNeverCame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeT{TB: t}
		start := time.Now()
		func() {
			defer func() {
				if r := recover(); r != nil && r != any(ft) {
					panic(r)
				}
			}()
			Poll(ft, time.Second, 50*time.Millisecond, "nothing", func() bool { return false })
		}()
		if ft.failed == "" {
			t.Fatal("Poll returned though the condition never held")
		}
		if d := time.Since(start); d < time.Second {
			t.Fatalf("gave up after %v, want the whole second", d)
		}
	})
}
