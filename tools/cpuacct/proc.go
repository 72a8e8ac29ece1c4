package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go runs on.
const clockTicks = 100

// procStat is the part of /proc/PID/stat cpuacct reads.
type procStat struct {
	pid, ppid int
	comm      string
	own       uint64 // utime + stime, in ticks
	reaped    uint64 // cutime + cstime: the reaped children's, in ticks
}

// parseStat reads a /proc/PID/stat line. The name (field 2) may hold
// spaces and parentheses, so the fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	var st procStat
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return st, fmt.Errorf("proc stat %.60q: no (comm)", s)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return st, fmt.Errorf("proc stat: pid: %w", err)
	}
	st.pid, st.comm = pid, s[open+1:end]
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state); ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return st, fmt.Errorf("proc stat: %d fields after the name, want at least 15", len(f))
	}
	var v [5]uint64
	for i, j := range []int{1, 11, 12, 13, 14} {
		if v[i], err = strconv.ParseUint(f[j], 10, 64); err != nil {
			return st, fmt.Errorf("proc stat: field %d %q: %w", j+3, f[j], err)
		}
	}
	st.ppid = int(v[0])
	st.own, st.reaped = v[1]+v[2], v[3]+v[4]
	return st, nil
}

// scan reads every process's stat; processes that vanish meanwhile are
// skipped.
func scan() map[int]procStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	all := make(map[int]procStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if st, err := parseStat(b); err == nil {
			all[pid] = st
		}
	}
	return all
}

// tree returns the descendants of root in all (root excluded).
func tree(all map[int]procStat, root int) []procStat {
	kids := map[int][]int{}
	for pid, st := range all {
		kids[st.ppid] = append(kids[st.ppid], pid)
	}
	var out []procStat
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, k := range kids[p] {
			out = append(out, all[k])
			queue = append(queue, k)
		}
	}
	return out
}

func descendants(root int) []procStat { return tree(scan(), root) }

// walk reads the stat of root and its descendants only, following
// /proc/PID/task/TID/children (each thread's children), which costs in
// proportion to the tree, not to every process on the machine. Without
// those files (CONFIG_PROC_CHILDREN off) it scans all of /proc.
func walk(root int) map[int]procStat {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d/children", root, root)); err != nil {
		return scan()
	}
	all := map[int]procStat{}
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		st, err := parseStat(b)
		if err != nil {
			continue
		}
		all[pid] = st
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil {
			continue
		}
		for _, tk := range tasks {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + tk.Name() + "/children")
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if k, err := strconv.Atoi(f); err == nil {
					if _, seen := all[k]; !seen {
						queue = append(queue, k)
					}
				}
			}
		}
	}
	return all
}

// sample is the tree's CPU so far at one instant.
type sample struct {
	at    time.Time
	cpu   time.Duration
	named []int // the descendants named as asked
}

// treeCPU is the CPU of the tree under root so far: root's reaped
// children's plus, over every live descendant, its own and its reaped
// children's. root's own time (cpuacct's) is left out.
func treeCPU(all map[int]procStat, root int, name string) (time.Duration, []int) {
	var ticks uint64
	if st, ok := all[root]; ok {
		ticks += st.reaped
	}
	var named []int
	for _, st := range tree(all, root) {
		ticks += st.own + st.reaped
		if name != "" && st.comm == name {
			named = append(named, st.pid)
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks, named
}

// sampleTree samples the tree under root; each passes the processes read
// to keep.
func sampleTree(root int, name string, keep func(map[int]procStat)) sample {
	at := time.Now()
	all := walk(root)
	keep(all)
	cpu, named := treeCPU(all, root, name)
	return sample{at: at, cpu: cpu, named: named}
}
