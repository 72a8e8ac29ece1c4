package memnet

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"logship/rep/transport"
)

// drain takes everything now in the endpoint's inbox.
func drain(ep *Endpoint) []transport.Message {
	var out []transport.Message
	for {
		select {
		case m, ok := <-ep.Recv():
			if !ok {
				return out
			}
			out = append(out, m)
		default:
			return out
		}
	}
}

// bodies keeps only data messages, as "from:body" strings.
func bodies(ms []transport.Message) []string {
	var out []string
	for _, m := range ms {
		if m.Kind == transport.KindMessage {
			out = append(out, fmt.Sprintf("%d:%s", m.From, m.Body))
		}
	}
	return out
}

// run sends 200 numbered messages from 1 to 2 and 3 under cfg, ticking as
// it goes, and returns what 2 and 3 received, in order, plus the stats.
func run(cfg Config) ([]string, Stats) {
	n := New(cfg)
	eps := []*Endpoint{n.Endpoint(1), n.Endpoint(2), n.Endpoint(3)}
	var got []string
	for i := range 200 {
		eps[0].Broadcast([]byte(fmt.Sprint(i)))
		n.Tick()
		for _, ep := range eps[1:] {
			for _, b := range bodies(drain(ep)) {
				got = append(got, fmt.Sprintf("%d<-%s", ep.ID(), b))
			}
		}
	}
	for n.Pending() > 0 {
		n.Tick()
	}
	for _, ep := range eps[1:] {
		for _, b := range bodies(drain(ep)) {
			got = append(got, fmt.Sprintf("%d<-%s", ep.ID(), b))
		}
	}
	return got, n.Stats()
}

var faulty = Config{Loss: 0.2, Duplicate: 0.1, Reorder: 0.2, ReorderTicks: 5, MinDelay: 1, MaxDelay: 3}

func TestDeterministicPerSeed(t *testing.T) {
	cfg := faulty
	cfg.Seed = 42
	a, sa := run(cfg)
	b, sb := run(cfg)
	if !reflect.DeepEqual(a, b) || sa != sb {
		t.Fatal("same seed, different runs")
	}
	cfg.Seed = 43
	c, _ := run(cfg)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same run")
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		check func(t *testing.T, got []string, st Stats)
	}{
		{"perfect network is FIFO and lossless", Config{}, func(t *testing.T, got []string, st Stats) {
			if len(got) != 400 || st.Lost+st.Duplicated+st.Reordered+st.Cut != 0 {
				t.Fatalf("%d delivered, stats %+v", len(got), st)
			}
			if !ordered(got) {
				t.Fatal("out of order")
			}
		}},
		{"loss", Config{Seed: 1, Loss: 0.3}, func(t *testing.T, got []string, st Stats) {
			if st.Lost < 80 || st.Lost > 160 || uint64(len(got)) != 400-st.Lost {
				t.Fatalf("%d delivered, stats %+v", len(got), st)
			}
		}},
		{"duplication", Config{Seed: 1, Duplicate: 0.5}, func(t *testing.T, got []string, st Stats) {
			if st.Duplicated == 0 || uint64(len(got)) != 400+st.Duplicated {
				t.Fatalf("%d delivered, stats %+v", len(got), st)
			}
		}},
		{"reordering", Config{Seed: 1, Reorder: 0.3, ReorderTicks: 4}, func(t *testing.T, got []string, st Stats) {
			if len(got) != 400 || st.Reordered == 0 || ordered(got) {
				t.Fatalf("%d delivered in order=%v, stats %+v", len(got), ordered(got), st)
			}
		}},
		{"variable delay", Config{Seed: 1, MinDelay: 2, MaxDelay: 9}, func(t *testing.T, got []string, st Stats) {
			if len(got) != 400 || ordered(got) {
				t.Fatalf("%d delivered, in order=%v", len(got), ordered(got))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, st := run(tc.cfg)
			tc.check(t, got, st)
		})
	}
}

// ordered reports whether each receiver got increasing sequence numbers.
func ordered(got []string) bool {
	last := map[string]int{}
	for _, g := range got {
		var to, from, i int
		fmt.Sscanf(strings.NewReplacer("<-", " ", ":", " ").Replace(g), "%d %d %d", &to, &from, &i)
		k := fmt.Sprint(to)
		if prev, ok := last[k]; ok && i <= prev {
			return false
		}
		last[k] = i
	}
	return true
}

func TestVirtualTime(t *testing.T) {
	n := New(Config{MinDelay: 5, MaxDelay: 5})
	a, b := n.Endpoint(1), n.Endpoint(2)
	drain(a)
	drain(b)
	a.Send(2, []byte("x"))
	if got := n.Advance(4); got != 0 || len(drain(b)) != 0 {
		t.Fatal("delivered before its time")
	}
	if got := n.Tick(); got != 1 || n.Now() != 5 {
		t.Fatalf("delivered %d at %d", got, n.Now())
	}
	if m := drain(b); len(m) != 1 || string(m[0].Body) != "x" || m[0].From != 1 {
		t.Fatalf("got %+v", m)
	}
	// Step jumps the clock to the next delivery.
	a.Send(2, []byte("y"))
	e, delivered, ok := n.Step()
	if !ok || !delivered || e.At != 10 || n.Now() != 10 || string(e.Body) != "y" {
		t.Fatalf("step: %+v %v %v, now %d", e, delivered, ok, n.Now())
	}
	if _, _, ok := n.Step(); ok {
		t.Fatal("step on an empty network")
	}
}

func TestSenderBufferReuse(t *testing.T) {
	n := New(Config{})
	a, b := n.Endpoint(1), n.Endpoint(2)
	buf := []byte("before")
	a.Send(2, buf)
	copy(buf, "AFTER!")
	n.Tick()
	if got := bodies(drain(b)); len(got) != 1 || got[0] != "1:before" {
		t.Fatalf("got %v", got)
	}
}

func TestPartitionAndHeal(t *testing.T) {
	n := New(Config{MinDelay: 1, MaxDelay: 1})
	eps := map[transport.ID]*Endpoint{}
	for id := range transport.ID(3) {
		eps[id+1] = n.Endpoint(id + 1)
	}
	// Every endpoint saw the other two come up.
	for id, ep := range eps {
		if ev := drain(ep); len(ev) != 2 || ev[0].Kind != transport.KindConnUp {
			t.Fatalf("site %d events %+v", id, ev)
		}
	}
	// In flight when the partition starts: lost.
	eps[1].Send(3, []byte("in flight"))
	n.Partition([]transport.ID{1, 2}, []transport.ID{3})
	if ev := drain(eps[3]); len(ev) != 2 || ev[0].Kind != transport.KindConnDown || ev[1].Kind != transport.KindConnDown {
		t.Fatalf("site 3 events %+v", ev)
	}
	if eps[1].Connected(3) || !eps[1].Connected(2) {
		t.Fatal("Connected disagrees with the partition")
	}
	if err := eps[1].Send(3, []byte("x")); !errors.Is(err, transport.ErrNotConnected) {
		t.Fatalf("send across the partition: %v", err)
	}
	if got := eps[1].Broadcast([]byte("b")); got != 1 {
		t.Fatalf("broadcast reached %d", got)
	}
	n.Tick()
	if got := bodies(drain(eps[3])); len(got) != 0 {
		t.Fatalf("site 3 received %v across the partition", got)
	}
	if got := bodies(drain(eps[2])); len(got) != 1 {
		t.Fatalf("site 2 received %v", got)
	}
	if st := n.Stats(); st.Cut != 2 {
		t.Fatalf("stats %+v, want 2 cut (one in flight, one refused)", st)
	}
	n.Heal()
	if ev := drain(eps[3]); len(ev) != 2 || ev[0].Kind != transport.KindConnUp {
		t.Fatalf("site 3 events after heal %+v", ev)
	}
	eps[1].Send(3, []byte("again"))
	n.Tick()
	if got := bodies(drain(eps[3])); len(got) != 1 || got[0] != "1:again" {
		t.Fatalf("after heal: %v", got)
	}
}

func TestOneWayCut(t *testing.T) {
	n := New(Config{})
	a, b := n.Endpoint(1), n.Endpoint(2)
	n.SetLink(1, 2, false)
	if a.Connected(2) || b.Connected(1) {
		t.Fatal("a one-way cut leaves the connection up")
	}
	n.SetLink(1, 2, true)
	if !a.Connected(2) {
		t.Fatal("restored link still down")
	}
}

func TestCrashAndRestart(t *testing.T) {
	n := New(Config{MinDelay: 2, MaxDelay: 2})
	a, b := n.Endpoint(1), n.Endpoint(2)
	drain(a)
	a.Send(2, []byte("to the old incarnation"))
	b.Close()
	for range b.Recv() { // the closed inbox still holds the conn-up it got on attach
	}
	if ev := drain(a); len(ev) != 1 || ev[0].Kind != transport.KindConnDown {
		t.Fatalf("events %+v", ev)
	}
	if err := b.Send(1, nil); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("send on closed endpoint: %v", err)
	}
	b2 := n.Endpoint(2)
	n.Advance(5)
	for _, m := range drain(b2) {
		if m.Kind == transport.KindMessage {
			t.Fatalf("restarted site got a message sent to its previous incarnation: %q", m.Body)
		}
	}
	if !a.Connected(2) {
		t.Fatal("not reconnected after restart")
	}
}

func TestInboxFullDrops(t *testing.T) {
	n := New(Config{InboxLen: 3})
	a, b := n.Endpoint(1), n.Endpoint(2)
	drain(b)
	for range 5 {
		a.Send(2, []byte("m"))
	}
	if got := n.Tick(); got != 3 {
		t.Fatalf("delivered %d", got)
	}
	if st := n.Stats(); st.InboxFull != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestValidate(t *testing.T) {
	err := Config{Loss: 2, MinDelay: 3, MaxDelay: 1, Reorder: 0.5}.Validate()
	for _, want := range []string{"Loss (2)", "MaxDelay (1) must be >= MinDelay (3)", "ReorderTicks"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
}
