package env

import (
	"fmt"
	"testing"
)

func TestFsyncLatencyHistogram(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	before := e.Stats()
	for i := range 5 {
		put(t, e, "b", fmt.Sprint("k", i), "v")
	}
	d := e.Stats().Sub(before)
	if d.FsyncCount == 0 || d.FsyncSeconds <= 0 {
		t.Fatalf("no fsyncs timed: %+v", d)
	}
	st := e.Stats()
	if len(st.FsyncBucketCounts) != len(FsyncBuckets) {
		t.Fatalf("%d buckets, want %d", len(st.FsyncBucketCounts), len(FsyncBuckets))
	}
	for i := 1; i < len(st.FsyncBucketCounts); i++ {
		if st.FsyncBucketCounts[i] < st.FsyncBucketCounts[i-1] {
			t.Fatalf("buckets not cumulative: %v", st.FsyncBucketCounts)
		}
	}
	if last := st.FsyncBucketCounts[len(st.FsyncBucketCounts)-1]; last > st.FsyncCount {
		t.Fatalf("bucket total %d exceeds count %d", last, st.FsyncCount)
	}
}
