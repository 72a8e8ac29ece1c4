package env

import (
	"sync/atomic"
	"time"
)

// FsyncBuckets are the upper bounds, in seconds, of the fsync latency
// histogram in Stats (FsyncBucketCounts): 50 µs doubling to about 3.3 s.
// Everything slower lands in the implicit +Inf bucket (FsyncCount).
var FsyncBuckets = func() []float64 {
	b := make([]float64, 17)
	for i, v := 0, 50e-6; i < len(b); i, v = i+1, v*2 {
		b[i] = v
	}
	return b
}()

// fsyncHist counts log fsyncs by latency: lock-free, since every group
// commit's last writer records one.
type fsyncHist struct {
	count, nanos atomic.Uint64
	buckets      [17]atomic.Uint64 // not cumulative; index as FsyncBuckets
}

func (h *fsyncHist) observe(d time.Duration) {
	h.count.Add(1)
	h.nanos.Add(uint64(max(d, 0)))
	secs := d.Seconds()
	for i, ub := range FsyncBuckets {
		if secs <= ub {
			h.buckets[i].Add(1)
			return
		}
	}
}

// fill copies the histogram into s, cumulatively as Prometheus wants.
func (h *fsyncHist) fill(s *Stats) {
	s.FsyncCount = h.count.Load()
	s.FsyncSeconds = time.Duration(h.nanos.Load()).Seconds()
	s.FsyncBucketCounts = make([]uint64, len(FsyncBuckets))
	var cum uint64
	for i := range FsyncBuckets {
		cum += h.buckets[i].Load()
		s.FsyncBucketCounts[i] = cum
	}
}
