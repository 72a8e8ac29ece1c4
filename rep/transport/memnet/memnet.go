package memnet

import (
	"container/heap"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"

	"logship/rep/transport"
)

// Config sets the faults of a Network. The zero Config is a perfect
// network: no loss, no delay beyond the next Tick, FIFO per link.
type Config struct {
	// Seed makes every random choice (loss, delay, duplication,
	// reordering) reproducible: the same seed and the same calls give the
	// same deliveries.
	Seed uint64
	// Loss is the probability that a message is dropped in flight.
	Loss float64
	// Duplicate is the probability that a message is delivered twice
	// (the copy with its own delay).
	Duplicate float64
	// Reorder is the probability that a message is held back by an extra
	// 1..ReorderTicks ticks, so that later messages overtake it.
	Reorder      float64
	ReorderTicks uint64
	// MinDelay and MaxDelay bound a message's delay in ticks, drawn
	// uniformly. With MinDelay == MaxDelay, messages on a link stay in
	// order unless Reorder says otherwise.
	MinDelay, MaxDelay uint64
	// InboxLen is the capacity of each endpoint's Recv channel (default
	// 1024). A delivery to a full inbox is dropped and counted, so a
	// single-goroutine simulator never deadlocks; drain after each Tick.
	InboxLen int
}

// Validate reports bad fields.
func (c Config) Validate() error {
	var errs []error
	for name, p := range map[string]float64{"Loss": c.Loss, "Duplicate": c.Duplicate, "Reorder": c.Reorder} {
		if p < 0 || p > 1 {
			errs = append(errs, fmt.Errorf("memnet: %s (%v) must be in [0, 1]", name, p))
		}
	}
	if c.MaxDelay < c.MinDelay {
		errs = append(errs, fmt.Errorf("memnet: MaxDelay (%d) must be >= MinDelay (%d)", c.MaxDelay, c.MinDelay))
	}
	if c.Reorder > 0 && c.ReorderTicks == 0 {
		errs = append(errs, errors.New("memnet: ReorderTicks must be > 0 when Reorder is set"))
	}
	if c.InboxLen < 0 {
		errs = append(errs, fmt.Errorf("memnet: InboxLen (%d) must be >= 0", c.InboxLen))
	}
	slices.SortFunc(errs, func(a, b error) int { return compareStrings(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Stats counts what the network did to messages.
type Stats struct {
	Sent       uint64 // accepted by Send
	Delivered  uint64 // put in an inbox
	Lost       uint64 // dropped by Loss
	Duplicated uint64 // extra copies made
	Reordered  uint64 // held back by Reorder
	Cut        uint64 // dropped because the link was down (at send or delivery)
	InboxFull  uint64 // dropped because the receiver's inbox was full
}

// Envelope is a message in flight.
type Envelope struct {
	From, To transport.ID
	Body     []byte
	At       uint64 // virtual time of delivery
	seq      uint64 // tie-break: FIFO among equal At
	// dst is the endpoint it was sent to: if that one closes (a crash),
	// the message must not reach a restarted endpoint with the same ID.
	dst *Endpoint
}

// Network is an in-memory network of endpoints driven by virtual time:
// nothing is delivered until the caller advances the clock with Tick,
// Advance or Step. It is safe for concurrent use, but is meant to be driven
// by one goroutine.
type Network struct {
	mu    sync.Mutex
	cfg   Config
	rng   *rand.Rand
	now   uint64
	seq   uint64
	queue envelopes
	eps   map[transport.ID]*Endpoint
	down  map[[2]transport.ID]bool // directed links that are cut
	stats Stats
}

// New returns an empty network. It panics on an invalid config, which is a
// bug in the test or simulator that built it.
func New(cfg Config) *Network {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if cfg.InboxLen == 0 {
		cfg.InboxLen = 1024
	}
	return &Network{
		cfg:  cfg,
		rng:  rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		eps:  make(map[transport.ID]*Endpoint),
		down: make(map[[2]transport.ID]bool),
	}
}

// Endpoint attaches site id to the network and returns its transport. If
// id was attached before and closed, this is a restart: a fresh endpoint
// with an empty inbox. Every open site it can reach, and the new endpoint
// itself, get a connection-up event.
func (n *Network) Endpoint(id transport.ID) *Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ep := n.eps[id]; ep != nil && !ep.closed {
		panic(fmt.Sprintf("memnet: site %d is already attached", id))
	}
	ep := &Endpoint{n: n, id: id, inbox: make(chan transport.Message, n.cfg.InboxLen)}
	before := n.linkState()
	n.eps[id] = ep
	n.notify(before)
	return ep
}

// Now returns the virtual time in ticks.
func (n *Network) Now() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.now
}

// Pending returns the number of messages in flight.
func (n *Network) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.queue)
}

// Stats returns the counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Tick advances virtual time by one tick and delivers what is due.
func (n *Network) Tick() int { return n.Advance(1) }

// Advance moves virtual time forward by d ticks, delivering every message
// due by then in (time, send order), and returns how many it delivered.
// Advance(0) delivers what is already due.
func (n *Network) Advance(d uint64) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.now += d
	count := 0
	for len(n.queue) > 0 && n.queue[0].At <= n.now {
		if n.deliver(heap.Pop(&n.queue).(*Envelope)) {
			count++
		}
	}
	return count
}

// Step delivers the next message in flight, moving the clock to its
// delivery time if that is later, and returns it (ok is false when nothing
// is in flight). The envelope is returned even if the message was then
// dropped (link cut, inbox full), so a simulator can trace it.
func (n *Network) Step() (e Envelope, delivered, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) == 0 {
		return Envelope{}, false, false
	}
	next := heap.Pop(&n.queue).(*Envelope)
	n.now = max(n.now, next.At)
	return *next, n.deliver(next), true
}

// deliver puts e in its receiver's inbox unless the link went down or the
// receiver closed since it was sent.
func (n *Network) deliver(e *Envelope) bool {
	ep := e.dst
	if ep.closed || !n.linkUp(e.From, e.To) {
		n.stats.Cut++
		return false
	}
	select {
	case ep.inbox <- transport.Message{From: e.From, Body: e.Body}:
		n.stats.Delivered++
		return true
	default:
		n.stats.InboxFull++
		return false
	}
}

// Partition splits the sites into groups that can talk only within
// themselves: every link between two different groups is cut (sites not
// named keep their links). Call Heal to undo it.
func (n *Network) Partition(groups ...[]transport.ID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	before := n.linkState()
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					n.down[[2]transport.ID{a, b}] = true
				}
			}
		}
	}
	n.notify(before)
}

// SetLink cuts (up = false) or restores the one-way link from -> to. A
// one-way cut also takes the connection down for both ends, as a TCP
// connection needs both directions.
func (n *Network) SetLink(from, to transport.ID, up bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	before := n.linkState()
	if up {
		delete(n.down, [2]transport.ID{from, to})
	} else {
		n.down[[2]transport.ID{from, to}] = true
	}
	n.notify(before)
}

// Heal restores every link.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	before := n.linkState()
	clear(n.down)
	n.notify(before)
}

func (n *Network) linkUp(from, to transport.ID) bool { return !n.down[[2]transport.ID{from, to}] }

// connected is whether a and b can talk: both open, both directions up.
func (n *Network) connected(a, b transport.ID) bool {
	ea, eb := n.eps[a], n.eps[b]
	return a != b && ea != nil && eb != nil && !ea.closed && !eb.closed && n.linkUp(a, b) && n.linkUp(b, a)
}

// linkState records which pairs are connected, so notify can emit events
// for what a change altered.
func (n *Network) linkState() map[[2]transport.ID]bool {
	s := make(map[[2]transport.ID]bool)
	for _, a := range n.ids() {
		for _, b := range n.ids() {
			if a < b && n.connected(a, b) {
				s[[2]transport.ID{a, b}] = true
			}
		}
	}
	return s
}

// ids returns the attached site IDs in order: iteration order must not
// depend on map order, or runs would not replay from their seed.
func (n *Network) ids() []transport.ID { return slices.Sorted(maps.Keys(n.eps)) }

// notify emits connection events, to both ends, for every pair whose state
// differs from before. Events go straight to the inboxes: they are the
// network's knowledge, not messages in flight.
func (n *Network) notify(before map[[2]transport.ID]bool) {
	after := n.linkState()
	ids := n.ids()
	for _, a := range ids {
		for _, b := range ids {
			if a >= b {
				continue
			}
			k := [2]transport.ID{a, b}
			if before[k] == after[k] {
				continue
			}
			kind := transport.KindConnDown
			if after[k] {
				kind = transport.KindConnUp
			}
			n.event(a, b, kind)
			n.event(b, a, kind)
		}
	}
}

func (n *Network) event(to, from transport.ID, kind transport.Kind) {
	ep := n.eps[to]
	if ep == nil || ep.closed {
		return
	}
	select {
	case ep.inbox <- transport.Message{From: from, Kind: kind}:
	default:
		n.stats.InboxFull++
	}
}

// send is Endpoint.Send under the network lock.
func (n *Network) send(from *Endpoint, to transport.ID, body []byte) error {
	if from.closed {
		return transport.ErrClosed
	}
	if !n.connected(from.id, to) {
		n.stats.Cut++
		return fmt.Errorf("%w: site %d", transport.ErrNotConnected, to)
	}
	n.stats.Sent++
	// Random draws happen in a fixed order for every message, so a run
	// replays exactly from its seed.
	if n.draw(n.cfg.Loss) {
		n.stats.Lost++
		return nil
	}
	// The network owns its copy: the sender may reuse its buffer.
	body = slices.Clone(body)
	n.enqueue(from.id, to, body)
	if n.draw(n.cfg.Duplicate) {
		n.stats.Duplicated++
		n.enqueue(from.id, to, body)
	}
	return nil
}

func (n *Network) enqueue(from, to transport.ID, body []byte) {
	delay := n.cfg.MinDelay
	if span := n.cfg.MaxDelay - n.cfg.MinDelay; span > 0 {
		delay += n.rng.Uint64N(span + 1)
	}
	if n.draw(n.cfg.Reorder) {
		n.stats.Reordered++
		delay += 1 + n.rng.Uint64N(n.cfg.ReorderTicks)
	}
	n.seq++
	heap.Push(&n.queue, &Envelope{From: from, To: to, Body: body, At: n.now + delay, seq: n.seq, dst: n.eps[to]})
}

// draw returns true with probability p, consuming one random number only
// when 0 < p < 1 so that turning a fault off does not shift the others.
func (n *Network) draw(p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	return n.rng.Float64() < p
}

// envelopes is a min-heap on (At, seq).
type envelopes []*Envelope

func (q envelopes) Len() int { return len(q) }
func (q envelopes) Less(i, j int) bool {
	if q[i].At != q[j].At {
		return q[i].At < q[j].At
	}
	return q[i].seq < q[j].seq
}
func (q envelopes) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *envelopes) Push(x any)   { *q = append(*q, x.(*Envelope)) }
func (q *envelopes) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// Endpoint is one site's view of the network; it implements
// transport.Transport.
type Endpoint struct {
	n      *Network
	id     transport.ID
	inbox  chan transport.Message
	closed bool // guarded by n.mu
}

var _ transport.Transport = (*Endpoint)(nil)

// ID returns the endpoint's site ID.
func (e *Endpoint) ID() transport.ID { return e.id }

// Send puts a copy of body in flight to site to. It fails with
// ErrNotConnected if to is not attached or the link is cut now; a message
// lost later (Loss, a cut before delivery) is lost silently, as on a real
// network.
func (e *Endpoint) Send(to transport.ID, body []byte) error {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	return e.n.send(e, to, body)
}

// Broadcast sends body to every connected site, in ID order.
func (e *Endpoint) Broadcast(body []byte) int {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	count := 0
	for _, id := range e.n.ids() {
		if id != e.id && e.n.connected(e.id, id) && e.n.send(e, id, body) == nil {
			count++
		}
	}
	return count
}

// Recv returns the endpoint's inbox. Messages appear in it only while the
// network's clock is advanced.
func (e *Endpoint) Recv() <-chan transport.Message { return e.inbox }

// Connected reports whether e and id can currently talk.
func (e *Endpoint) Connected(id transport.ID) bool {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	return e.n.connected(e.id, id)
}

// Close detaches the endpoint, as a crash would: messages in flight to it
// are lost, and its peers get connection-down events. Its inbox is closed.
func (e *Endpoint) Close() error {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	if e.closed {
		return nil
	}
	before := e.n.linkState()
	e.closed = true
	e.n.notify(before)
	close(e.inbox)
	return nil
}
