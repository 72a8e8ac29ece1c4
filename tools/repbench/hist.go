package main

import (
	"math/bits"
	"time"
)

// hist is a fixed-size log-linear latency histogram over nanoseconds.
// Values below 2^subBits ns have a bucket each; above that every power of
// two is split into 2^subBits equal buckets, so a bucket's width is at most
// 1/64 of its lower bound (about 1.6%). Memory is fixed (a few KiB)
// whatever the number of samples; values past the last bucket are counted
// in it. The zero value is ready to use; it is not safe for concurrent use
// (each writer keeps its own and they are merged at the end).
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	sum    time.Duration
	min    time.Duration
	max    time.Duration
}

const (
	subBits     = 6
	subCount    = 1 << subBits
	maxExp      = 40 // 2^40 ns is about 18 minutes: the last bucket
	histBuckets = (maxExp-subBits)*subCount + 2*subCount
)

// bucketOf returns the bucket index of v nanoseconds.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1
	if e > maxExp-subBits {
		return histBuckets - 1
	}
	// v>>e is in [subCount, 2*subCount): the mantissa with its top bit.
	return e*subCount + int(v>>uint(e))
}

// bucketBounds returns the smallest value of bucket i and its width.
func bucketBounds(i int) (lo, width uint64) {
	if i < subCount {
		return uint64(i), 1
	}
	e := i/subCount - 1
	m := uint64(i%subCount + subCount)
	return m << uint(e), 1 << uint(e)
}

// Record adds one latency (negative values count as zero).
func (h *hist) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Merge adds o's samples to h.
func (h *hist) Merge(o *hist) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of samples.
func (h *hist) Count() uint64 { return h.n }

// Max returns the largest sample, exactly.
func (h *hist) Max() time.Duration { return h.max }

// Mean returns the mean sample.
func (h *hist) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the q-quantile (0 <= q <= 1) the way the anchor
// harnesses pick it from a sorted sample, element int(q*(n-1)), here as the
// middle of the bucket that holds that element, kept within [min, max].
func (h *hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(q * float64(h.n-1)) // 0-based
	var seen uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		if seen+c > rank {
			lo, w := bucketBounds(i)
			v := time.Duration(lo + w/2)
			return min(max(v, h.min), h.max)
		}
		seen += c
	}
	return h.max
}
