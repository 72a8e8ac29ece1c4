package main

// The history TestSoakLinearizable records and the model porcupine checks
// it against: every key is a register, written with PUT and read with a
// lease read on the master.

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// linInput is one operation on one key: a write of Value, or a read.
type linInput struct {
	Key   string
	Write bool
	Value string // the value written; every write of a key writes a new one
}

// linOp is one operation of the recorded history.
type linOp struct {
	Client int // the goroutine that ran it, from 0 (porcupine draws one row per client)
	In     linInput
	Out    string // what a read answered: the value, "" when the key was absent (404)
	// Call and Return are nanoseconds since the test began, on the
	// monotonic clock; Call is taken before the request is sent, Return
	// after its answer was read.
	Call, Return int64
	// Unknown: a write that may or may not have taken effect (answered
	// 200 but not permanent, any other error, no answer). It may have
	// been applied at any time after Call, or never.
	Unknown bool
	// Late: an unknown write not answered 200 (no answer, or an error
	// with no record named): nothing says it was not applied after its
	// answer, even much later.
	Late      bool
	Permanent bool   // a write answered 200 with permanent: true
	Site      int    // the site it was sent to
	Outcome   string // the answer, for messages and the visualization
}

func (op linOp) String() string {
	var what string
	if op.In.Write {
		what = fmt.Sprintf("put %s=%s", op.In.Key, op.In.Value)
	} else {
		what = fmt.Sprintf("get %s -> %s", op.In.Key, describeValue(op.Out))
	}
	ret := fmt.Sprintf("%.4fs", time.Duration(op.Return).Seconds())
	if op.Unknown {
		ret = "?"
	}
	return fmt.Sprintf("client %d %s [%.4fs, %s] on site %d: %s", op.Client, what, time.Duration(op.Call).Seconds(), ret, op.Site, op.Outcome)
}

func describeValue(v string) string {
	if v == "" {
		return "(absent)"
	}
	return fmt.Sprintf("%q", v)
}

// linMeta rides along each porcupine operation so that a failure can
// name the recorded operation porcupine could not place.
type linMeta struct {
	Index   int // into the history given to checkLinearizable
	Site    int
	Outcome string
}

// linModel is a register per key. A read must return the value of the
// last write linearized before it ("" before any: every round writes
// keys of its own, which start absent).
var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(linInput).Key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		slices.Sort(keys) // the same history always gives the same partitions
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(linInput)
		if in.Write {
			return true, in.Value // a write's answer says nothing about the state
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(linInput)
		if in.Write {
			return fmt.Sprintf("put %s=%s", in.Key, in.Value)
		}
		return fmt.Sprintf("get %s -> %s", in.Key, describeValue(output.(string)))
	},
	DescribeState: func(state any) string { return describeValue(state.(string)) },
	DescribeOperationMetadata: func(info any) string {
		m, ok := info.(linMeta)
		if !ok {
			return ""
		}
		return fmt.Sprintf("site %d: %s", m.Site, m.Outcome)
	},
}

// porcupineHistory turns the recorded operations into porcupine's. A
// write of unknown outcome gets a return after every other operation,
// so that it may be linearized anywhere after its call, or last, which
// is as good as never. One whose value no read returned is left out:
// placed last it changes nothing any read saw, so the history is
// linearizable with it exactly when it is without it, and each such
// write left in multiplies the orders the checker may have to try.
func porcupineHistory(ops []linOp) (hist []porcupine.Operation, pruned int) {
	seen := map[linInput]bool{}
	var end int64
	for _, op := range ops {
		if !op.In.Write && op.Out != "" {
			seen[linInput{Key: op.In.Key, Write: true, Value: op.Out}] = true
		}
		if !op.Unknown {
			end = max(end, op.Return)
		}
	}
	end++
	for i, op := range ops {
		ret := op.Return
		if op.Unknown {
			if !seen[op.In] {
				pruned++
				continue
			}
			ret = end
		}
		hist = append(hist, porcupine.Operation{
			ClientId: op.Client, Input: op.In, Call: op.Call, Output: op.Out, Return: ret,
			Metadata: linMeta{Index: i, Site: op.Site, Outcome: op.Outcome},
		})
	}
	return hist, pruned
}

// linVerdict is porcupine's answer on one history.
type linVerdict struct {
	Result porcupine.CheckResult
	Ops    int // operations checked
	Pruned int // unknown writes nobody read, left out (porcupineHistory)
	Took   time.Duration
	Info   porcupine.LinearizationInfo // for the visualization
	Blame  string                      // when Illegal: per failing key, what porcupine could not place
}

// checkLinearizable checks ops with porcupine, each key a register, for
// at most timeout; a timeout is porcupine's Unknown.
func checkLinearizable(ops []linOp, timeout time.Duration) linVerdict {
	hist, pruned := porcupineHistory(ops)
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(linModel, hist, timeout)
	v := linVerdict{Result: res, Ops: len(hist), Pruned: pruned, Took: time.Since(start), Info: info}
	if res == porcupine.Illegal {
		v.Blame = blame(ops, timeout)
	}
	return v
}

// blame describes each key whose history porcupine finds illegal on its
// own: the longest order of its operations the register allows, and the
// operations left over, earliest return first. The first of those
// returned before some operation that had to follow it was invoked, yet
// fits nowhere in that order: it (or the write whose value it missed)
// is the culprit.
func blame(ops []linOp, timeout time.Duration) string {
	byKey := map[string][]linOp{}
	for _, op := range ops {
		byKey[op.In.Key] = append(byKey[op.In.Key], op)
	}
	var b strings.Builder
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		kops := byKey[key]
		hist, _ := porcupineHistory(kops)
		res, info := porcupine.CheckOperationsVerbose(linModel, hist, timeout)
		if res == porcupine.Ok {
			continue
		}
		if res == porcupine.Unknown {
			fmt.Fprintf(&b, "key %s: porcupine could not decide within %v\n", key, timeout)
			continue
		}
		var longest []porcupine.Operation
		for _, partials := range info.PartialLinearizationsOperations() {
			for _, p := range partials {
				if len(p) > len(longest) {
					longest = p
				}
			}
		}
		placed := map[int]bool{}
		state := ""
		for _, op := range longest {
			placed[op.Metadata.(linMeta).Index] = true
			if in := op.Input.(linInput); in.Write {
				state = in.Value
			}
		}
		var left []linOp
		for i, op := range kops {
			// A write of unknown outcome may stay unplaced: it may
			// never have happened.
			if !placed[i] && !(op.Unknown && op.In.Write) {
				left = append(left, op)
			}
		}
		slices.SortFunc(left, func(a, b linOp) int { return cmp.Compare(a.Return, b.Return) })
		fmt.Fprintf(&b, "key %s: porcupine orders at most %d of its %d operations, leaving the register at %s; the last it placed:\n",
			key, len(longest), len(kops), describeValue(state))
		for _, op := range longest[max(0, len(longest)-4):] {
			fmt.Fprintf(&b, "\t%s\n", kops[op.Metadata.(linMeta).Index])
		}
		fmt.Fprintf(&b, "  it cannot place, earliest return first:\n")
		for _, op := range left[:min(len(left), 5)] {
			fmt.Fprintf(&b, "\t%s\n", op)
		}
		if len(left) > 0 && !left[0].In.Write && left[0].Out != "" {
			for _, w := range kops {
				if w.In.Write && w.In.Value == left[0].Out {
					fmt.Fprintf(&b, "  the value it read was written by:\n\t%s\n", w)
				}
			}
		}
	}
	return b.String()
}

// TestLinModel: the checker TestSoakLinearizable relies on tells a
// stale read from a fresh one, lets a write of unknown outcome take
// effect late or never, and names what it cannot place.
func TestLinModel(t *testing.T) {
	w := func(c int, v string, call, ret int64) linOp {
		return linOp{Client: c, In: linInput{Key: "k", Write: true, Value: v}, Call: call, Return: ret, Permanent: true}
	}
	r := func(c int, v string, call, ret int64) linOp {
		return linOp{Client: c, In: linInput{Key: "k"}, Out: v, Call: call, Return: ret}
	}
	unknown := func(op linOp) linOp { op.Unknown, op.Permanent = true, false; return op }
	cases := []struct {
		name   string
		ops    []linOp
		want   porcupine.CheckResult
		pruned int
		blames string // in the blame of an illegal history
	}{
		{"sequential", []linOp{w(0, "a", 0, 10), r(1, "a", 20, 30), w(0, "b", 40, 50), r(1, "b", 60, 70)}, porcupine.Ok, 0, ""},
		{"absent before the first write", []linOp{r(1, "", 0, 10), w(0, "a", 20, 30)}, porcupine.Ok, 0, ""},
		{"concurrent read sees either", []linOp{w(0, "a", 0, 10), w(0, "b", 20, 50), r(1, "a", 30, 40), r(2, "b", 35, 45)}, porcupine.Ok, 0, ""},
		{"stale read", []linOp{w(0, "a", 0, 10), w(0, "b", 20, 30), r(1, "a", 40, 50)}, porcupine.Illegal, 0, `get k -> "a"`},
		{"read of nothing written", []linOp{w(0, "a", 0, 10), r(1, "z", 20, 30)}, porcupine.Illegal, 0, `get k -> "z"`},
		{"lost permanent write", []linOp{w(0, "a", 0, 10), r(1, "", 20, 30)}, porcupine.Illegal, 0, "get k -> (absent)"},
		// Answered early, applied late: a read after another write may
		// still see it.
		{"unknown write lands late", []linOp{unknown(w(0, "a", 0, 10)), w(1, "b", 20, 30), r(2, "a", 40, 50)}, porcupine.Ok, 0, ""},
		{"unknown write never lands", []linOp{w(1, "b", 0, 10), unknown(w(0, "a", 20, 30)), r(2, "b", 40, 50)}, porcupine.Ok, 1, ""},
		{"unknown write not before its call", []linOp{r(2, "a", 0, 10), unknown(w(0, "a", 20, 30))}, porcupine.Illegal, 0, `get k -> "a"`},
	}
	for _, tc := range cases {
		v := checkLinearizable(tc.ops, 10*time.Second)
		if v.Result != tc.want || v.Pruned != tc.pruned || !strings.Contains(v.Blame, tc.blames) {
			t.Errorf("%s: %s, %d pruned, blame %q; want %s, %d pruned, blame naming %q", tc.name, v.Result, v.Pruned, v.Blame, tc.want, tc.pruned, tc.blames)
		}
		if tc.want == porcupine.Illegal {
			t.Logf("%s:\n%s", tc.name, v.Blame)
		}
	}
}
