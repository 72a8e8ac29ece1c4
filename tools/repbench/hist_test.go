package main

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	// Every value falls in the bucket whose bounds hold it, and buckets
	// follow each other without gaps up to the last one.
	var next uint64
	for i := 0; i < histBuckets-1; i++ {
		lo, w := bucketBounds(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		for _, v := range []uint64{lo, lo + w/2, lo + w - 1} {
			if got := bucketOf(v); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, got, i)
			}
		}
		next = lo + w
	}
	if got := bucketOf(1 << 62); got != histBuckets-1 {
		t.Fatalf("huge value in bucket %d, want the last (%d)", got, histBuckets-1)
	}
}

func TestBucketRelativeWidth(t *testing.T) {
	for i := subCount; i < histBuckets; i++ {
		lo, w := bucketBounds(i)
		if float64(w)/float64(lo) > 1.0/subCount+1e-12 {
			t.Fatalf("bucket %d: width %d over lower bound %d is more than 1/%d", i, w, lo, subCount)
		}
	}
}

func TestQuantileMatchesSortedSample(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h hist
	var all []time.Duration
	for range 100000 {
		// A skewed distribution from 20us to a few seconds.
		d := time.Duration(20_000 + r.ExpFloat64()*500_000)
		if r.IntN(1000) == 0 {
			d = time.Duration(r.Int64N(int64(3 * time.Second)))
		}
		h.Record(d)
		all = append(all, d)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		want := all[int(q*float64(len(all)-1))]
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.02 || diff < -0.02 {
			t.Errorf("q%.3f = %v, sorted sample says %v (off by %.2f%%)", q, got, want, 100*diff)
		}
	}
	if h.Max() != all[len(all)-1] {
		t.Errorf("max %v, want %v", h.Max(), all[len(all)-1])
	}
	if h.Count() != uint64(len(all)) {
		t.Errorf("count %d, want %d", h.Count(), len(all))
	}
}

func TestMergeEqualsOneHistogram(t *testing.T) {
	var a, b, both hist
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		both.Record(d)
	}
	var m hist
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&hist{}) // an empty one changes nothing
	if m != both {
		t.Fatalf("merged histogram differs from the one that saw every sample")
	}
}

func TestEmptyAndSingle(t *testing.T) {
	var h hist
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Fatal("empty histogram should answer zeros")
	}
	h.Record(1234567 * time.Nanosecond)
	for _, q := range []float64{0, 0.5, 1} {
		if got := h.Quantile(q); got != 1234567 {
			t.Errorf("one sample: q%.1f = %v, want the sample (clamped to min/max)", q, got)
		}
	}
	h.Record(-5)
	if h.Quantile(0) != 0 {
		t.Errorf("a negative sample counts as zero")
	}
}
