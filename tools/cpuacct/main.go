// Command cpuacct runs a command and reports the CPU time (user + system)
// of every process it starts, however deep, for a benchmark's "CPU per
// commit": the servers and the load generator of one run, added up.
//
//	cpuacct [--label L] [--window NAME] [--only NAME,...] [--every 50ms] -- COMMAND [ARG...]
//
// It prints, after the command's own output, one line
//
//	CPU label=L total cpu=12.345s wall=10.71s procs_left=0
//
// and with --window NAME one line per lifetime of a process of that name
// (its /proc comm, as ps shows it) somewhere in the tree:
//
//	CPU label=L window=pgbench#1 cpu=3.210s wall=10.02s
//
// and with --only NAME,... the CPU of the processes of those names alone
// (a harness's servers without its shell scaffolding):
//
//	CPU label=L only=bdbrep cpu=11.900s procs=3
//
// The method, so that nothing is counted twice or missed:
//
//   - The total is the kernel's account, not a sample. cpuacct makes itself
//     a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so a process whose
//     parent exits before it (a daemon: pg_ctl start leaves the postmaster
//     running) is reparented to cpuacct instead of init. Every process of
//     the tree is then reaped by a parent inside the tree, and a reaped
//     process's CPU, with that of everything it reaped, is added to its
//     reaper's (the cutime/cstime of /proc/PID/stat). cpuacct reaps the
//     command and every orphan, waiting up to --linger for the last ones,
//     and reports getrusage(RUSAGE_CHILDREN): each process once, whole.
//     What escapes: a process whose parent ignores SIGCHLD (the kernel
//     reaps it and its time is credited to nobody), and one still running
//     when cpuacct gives up (counted in procs_left). cpuacct's own CPU is
//     not counted.
//   - A window needs the tree's CPU at two instants. The tree's CPU so far
//     is cpuacct's cutime+cstime plus, over every live descendant,
//     utime+stime+cutime+cstime: a process that died and was reaped is in
//     its reaper's cutime, one alive in its own utime, so the sum only
//     grows and counts each process once; the difference of two samples is
//     the CPU spent between them, whoever spent it and whether or not it
//     has exited. cpuacct samples every --every (a full /proc scan, about a
//     millisecond); a window runs from the last sample without a process
//     of that name to the first sample after the last one exited, so it
//     holds all of that process's CPU, and the others' for at most two
//     sample intervals more (an idle server's: nothing to speak of). The
//     one race: a process reaped between the reading of its parent and its
//     own within one scan is missed (or counted twice) in that sample only.
//     A sample reads only the tree (/proc/PID/task/TID/children), about
//     1 ms of CPU for a small one.
//   - --only keeps, per process of those names, its utime+stime+cutime+
//     cstime at the latest sample; the sum at the end is their CPU but for
//     what each spent after its last sample (at exit, when a server is
//     idle: next to nothing).
//
// Linux only (/proc, prctl).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	label  string
	window string
	only   []string
	every  time.Duration
	linger time.Duration
	argv   []string
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("cpuacct", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.label, "label", "-", "label on the CPU lines")
	fs.StringVar(&c.window, "window", "", "also report the tree's CPU over each lifetime of a process of this name (its /proc comm, at most 15 bytes)")
	only := fs.String("only", "", "also report the CPU of the processes of these names (comma-separated) alone, from /proc samples")
	fs.DurationVar(&c.every, "every", 50*time.Millisecond, "with --window or --only: how often /proc is sampled")
	fs.DurationVar(&c.linger, "linger", 30*time.Second, "after the command exits, how long to wait for the processes it left running")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cpuacct [--label L] [--window NAME] [--only NAME,...] [--every 50ms] [--linger 30s] -- COMMAND [ARG...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.argv = fs.Args()
	if *only != "" {
		c.only = strings.Split(*only, ",")
	}
	switch {
	case len(c.argv) == 0:
		return c, errors.New("no command")
	case c.every <= 0:
		return c, errors.New("--every must be > 0")
	case len(c.window) > 15:
		return c, fmt.Errorf("--window %q: a comm has at most 15 bytes", c.window)
	}
	return c, nil
}

// run is main without the process: the command's exit status, or 2 on a
// bad command line, 1 if it cannot start.
func run(args []string, stdout, stderr io.Writer) int {
	c, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "cpuacct: %v\n", err)
		return 2
	}
	r, err := account(c, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "cpuacct: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "CPU label=%s total cpu=%.3fs wall=%.2fs procs_left=%d\n", c.label, r.total.Seconds(), r.wall.Seconds(), r.left)
	if c.only != nil {
		fmt.Fprintf(stdout, "CPU label=%s only=%s cpu=%.3fs procs=%d\n", c.label, strings.Join(c.only, ","), r.only.Seconds(), r.onlyProcs)
	}
	return r.status
}

// result is one accounted run.
type result struct {
	total   time.Duration
	wall    time.Duration
	left    int // descendants still running when cpuacct stopped waiting
	status  int // the command's exit status
	windows []time.Duration
	// only, onlyProcs: the CPU of the processes named by --only, and how
	// many there were.
	only      time.Duration
	onlyProcs int
}

// account runs c.argv and returns its CPU account; window lines go to out
// as windows close.
func account(c config, out io.Writer) (result, error) {
	var res result
	if err := setSubreaper(); err != nil {
		return res, fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
	}
	before, err := childrenCPU()
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	path, err := exec.LookPath(c.argv[0])
	if err != nil {
		return res, fmt.Errorf("start %s: %w", c.argv[0], err)
	}
	p, err := os.StartProcess(path, c.argv, &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		return res, fmt.Errorf("start %s: %w", c.argv[0], err)
	}
	main := p.Pid

	// Forwarded, so `timeout` or ^C around cpuacct reach the command.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			syscall.Kill(main, s.(syscall.Signal))
		}
	}()

	stopWin := make(chan struct{})
	winDone := make(chan watched, 1)
	if c.window != "" || c.only != nil {
		go func() { winDone <- watch(c, os.Getpid(), stopWin, out) }()
	} else {
		winDone <- watched{}
	}

	res.status = -1
	var lingerEnd time.Time
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.ECHILD) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("wait4: %w", err)
		}
		if pid == main {
			res.status = ws.ExitStatus()
			if ws.Signaled() {
				res.status = 128 + int(ws.Signal())
			}
			res.wall = time.Since(t0)
			lingerEnd = time.Now().Add(c.linger)
		}
		if pid > 0 {
			continue
		}
		// Nothing to reap now. WNOHANG and a short sleep instead of a
		// blocking wait, so the linger bound holds.
		if !lingerEnd.IsZero() && time.Now().After(lingerEnd) {
			res.left = len(descendants(os.Getpid()))
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stopWin)
	w := <-winDone
	res.windows, res.onlyProcs = w.windows, len(w.only)
	for _, v := range w.only {
		res.only += v
	}
	after, err := childrenCPU()
	if err != nil {
		return res, err
	}
	res.total = after - before
	return res, nil
}

// childrenCPU is getrusage(RUSAGE_CHILDREN): the CPU of every reaped
// descendant.
func childrenCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

func setSubreaper() error {
	const prSetChildSubreaper = 36
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// watched is what the /proc samples found.
type watched struct {
	windows []time.Duration
	only    map[int]time.Duration // by pid: the latest CPU seen of a process named by --only
}

// watch samples the tree under self until stop closes. It reports every
// lifetime of a process named c.window, and keeps the CPU of the
// processes named by c.only. A process of --only is counted as of its
// last sample: whatever it spends after it (its exit) is missed, and the
// CPU of its children is in it once they are reaped.
//
// A window opens on the first sample that finds a process of that name
// (from the sample before) and closes on a sample taken the moment that
// very process exits: cpuacct waits on a pidfd for it, so that a second
// process of the name started right after the first (pgbench after
// pgbench) opens a window of its own. Without pidfds (Linux before 5.3)
// a window closes on the first sample without the process.
func watch(c config, self int, stop <-chan struct{}, out io.Writer) watched {
	w := watched{only: map[int]time.Duration{}}
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	keep := func(all map[int]procStat) {
		for _, st := range tree(all, self) {
			if slices.Contains(c.only, st.comm) {
				w.only[st.pid] = time.Duration(st.own+st.reaped) * time.Second / clockTicks
			}
		}
	}
	var (
		prev    = sampleTree(self, c.window, keep)
		open    bool
		from    sample
		cur     int  // the process of the open window
		polled  bool // its exit comes on exits
		exits   = make(chan int, 1)
		done    = make(chan struct{})
		exited  = map[int]bool{} // processes whose windows closed, until they are gone
		closeAt = func(s sample) {
			open = false
			exited[cur] = true
			d := s.cpu - from.cpu
			w.windows = append(w.windows, d)
			fmt.Fprintf(out, "CPU label=%s window=%s#%d cpu=%.3fs wall=%.2fs\n",
				c.label, c.window, len(w.windows), d.Seconds(), s.at.Sub(from.at).Seconds())
		}
	)
	defer close(done)
	for {
		var s sample
		select {
		case <-stop:
			if open {
				// The command ended with the process still running: close
				// the window on the last sample.
				fmt.Fprintf(out, "CPU label=%s window=%s#%d cpu=%.3fs wall=%.2fs unfinished\n",
					c.label, c.window, len(w.windows)+1, (prev.cpu - from.cpu).Seconds(), prev.at.Sub(from.at).Seconds())
			}
			return w
		case pid := <-exits:
			// The pidfd says the process exited; its CPU moves to its
			// parent's cutime when the parent reaps it. A sample before
			// that could miss it (read neither as the parent's nor as its
			// own), and the next window would get it.
			waitReaped(pid, 200*time.Millisecond)
			s = sampleTree(self, c.window, keep)
			if open && pid == cur {
				closeAt(s)
			}
		case <-tick.C:
			s = sampleTree(self, c.window, keep)
			if c.window == "" {
				break
			}
			for pid := range exited {
				if !slices.Contains(s.named, pid) {
					delete(exited, pid) // reaped: its pid may come again
				}
			}
			switch {
			case !open:
				for _, pid := range s.named {
					if !exited[pid] {
						open, from, cur = true, prev, pid
						polled = waitExit(pid, exits, done)
						break
					}
				}
			case !polled && !slices.Contains(s.named, cur):
				closeAt(s)
			}
		}
		prev = s
	}
}

// waitReaped waits, at most max, until pid is gone from /proc: reaped by
// its parent.
func waitReaped(pid int, max time.Duration) {
	path := "/proc/" + strconv.Itoa(pid)
	for end := time.Now().Add(max); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return
		}
	}
}

// waitExit sends pid on exits when the process exits, and reports whether
// it can (a pidfd for it opened). It gives up when done closes.
func waitExit(pid int, exits chan<- int, done <-chan struct{}) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false
	}
	go func() {
		defer unix.Close(fd)
		for {
			select {
			case <-done:
				return
			default:
			}
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 100)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			if n > 0 {
				select {
				case exits <- pid:
				case <-done:
				}
				return
			}
		}
	}()
	return true
}
