package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkRawFsync measures the file system under the log, not the log:
// 4 KiB write + fdatasync in a loop, on a file that grows with each write
// (append), on blocks written with zeros and fsynced beforehand (zeroed,
// what the preallocator lays), on blocks only fallocate'd (fallocate), and
// with 1, 2 and 3 such loops at once on separate pre-zeroed files (what
// three sites on one disk do). It reports µs per fsync, and for the single
// loops the CPU time (user and system, of the whole process) per fsync;
// docs/performance.md quotes it for why the log preallocates with real
// zeros and for what fsyncs cost a commit in CPU.
func BenchmarkRawFsync(b *testing.B) {
	for _, mode := range []string{"append", "zeroed", "fallocate"} {
		b.Run(mode, func(b *testing.B) {
			f := rawFsyncFile(b, b.TempDir(), mode, b.N)
			defer f.Close()
			b.ResetTimer()
			start, cpu0 := time.Now(), processCPU(b)
			rawFsyncLoop(b, f, b.N)
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/fsync")
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/fsync")
		})
	}
	for _, loops := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("zeroed-loops=%d", loops), func(b *testing.B) {
			files := make([]*os.File, loops)
			for i := range files {
				files[i] = rawFsyncFile(b, b.TempDir(), "zeroed", b.N)
				defer files[i].Close()
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, f := range files {
				wg.Go(func() { rawFsyncLoop(b, f, b.N) })
			}
			wg.Wait()
			el := time.Since(start)
			b.ReportMetric(float64(el.Microseconds())/float64(b.N), "µs/fsync")
			b.ReportMetric(float64(loops*b.N)/el.Seconds(), "fsyncs/s")
		})
	}
}

const rawFsyncBlock = 4096

// rawFsyncFile creates a file in dir ready for n block writes in mode.
func rawFsyncFile(b *testing.B, dir, mode string, n int) *os.File {
	f, err := os.Create(filepath.Join(dir, "raw"))
	if err != nil {
		b.Fatal(err)
	}
	size := int64(n) * rawFsyncBlock
	switch mode {
	case "zeroed":
		zero := make([]byte, 1<<20)
		for off := int64(0); off < size; off += int64(len(zero)) {
			if _, err := f.WriteAt(zero[:min(int64(len(zero)), size-off)], off); err != nil {
				b.Fatal(err)
			}
		}
	case "fallocate":
		if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
			b.Skipf("fallocate: %v", err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return f
}

// rawFsyncLoop writes n blocks from the start of f, each followed by
// fdatasync.
func rawFsyncLoop(b *testing.B, f *os.File, n int) {
	buf := make([]byte, rawFsyncBlock)
	for i := range n {
		if _, err := f.WriteAt(buf, int64(i)*rawFsyncBlock); err != nil {
			b.Error(err)
			return
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Error(err)
			return
		}
	}
}

// processCPU is this process's user plus system time so far.
func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
