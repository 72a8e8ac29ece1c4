package rep_test

import (
	"fmt"

	"logship/rep"
	"logship/rep/transport"
)

// site is what a driver owns for one node: the node and its log.
type site struct {
	n   *rep.Node
	log *rep.MemLog
}

// carryOut is the driver contract ([rep.Ready]) for a site without
// snapshots or rollbacks: append, send, report commits and events, then
// Advance; after the log is durable (here: at once), Persisted.
func carryOut(s site, wire *[][]byte) {
	for s.n.HasReady() {
		rd := s.n.Ready()
		for _, r := range rd.Append {
			if err := s.log.AppendAt(r); err != nil {
				panic(err)
			}
			fmt.Printf("site %d appends %s %q\n", s.n.Status().ID, r.LSN, r.Payload)
		}
		for _, m := range rd.Messages {
			b, err := rep.Marshal(m) // the transport frames and sends b
			if err != nil {
				panic(err)
			}
			*wire = append(*wire, b)
		}
		for _, c := range rd.Commits {
			fmt.Printf("site %d: commit %s permanent=%t\n", s.n.Status().ID, c.LSN, c.Permanent)
		}
		for _, e := range rd.Events {
			fmt.Printf("site %d: event %s from site %d\n", s.n.Status().ID, e.Type, e.Site)
		}
		s.n.Advance(rd)
		if len(rd.Append) > 0 {
			s.n.Persisted(s.log.Last()) // after the driver's fsync
		}
	}
}

// A master and a client driven by hand through Step, Ready and Advance:
// a commit is shipped, appended and persisted by the client, acknowledged,
// and reported permanent under the default quorum ack policy.
func Example_masterAndClient() {
	sites := map[rep.SiteID]site{}
	for _, id := range []rep.SiteID{1, 2} {
		log := rep.NewMemLog(1 << 20)
		cfg := rep.DefaultConfig()
		cfg.ID, cfg.Priority, cfg.Log = id, 1, log
		cfg.Sites = []rep.Site{{ID: 3 - id}}
		n, err := rep.New(cfg)
		if err != nil {
			panic(err)
		}
		sites[id] = site{n: n, log: log}
	}
	var wire [][]byte
	deliver := func() { // the transport: decode and Step until quiet
		for len(wire) > 0 {
			m, err := rep.Unmarshal(wire[0])
			wire = wire[1:]
			if err != nil {
				panic(err)
			}
			sites[m.To].n.Step(m)
			carryOut(sites[m.To], &wire)
		}
	}

	// rep_start: site 1 is master of generation 1, site 2 its client.
	sites[1].n.BecomeMaster(1)
	carryOut(sites[1], &wire)
	sites[2].n.BecomeClient(1, 1)
	carryOut(sites[2], &wire)
	deliver()

	// A commit on the master: write it to the local log, tell the node,
	// make it durable, carry out the Ready (the LOG message), deliver.
	m := sites[1]
	rec := m.log.Append(1, []byte("k=v"))
	rec.Perm = true
	m.n.Appended([]rep.Record{rec})
	m.n.Persisted(rec.LSN)
	carryOut(m, &wire)
	deliver()

	fmt.Println("client durable:", sites[2].n.Status().Durable)
	fmt.Println("master sees site 2 at:", m.n.Sites()[0].Acked)
	// Output:
	// site 1: event NewMaster from site 1
	// site 2: event NewMaster from site 1
	// site 2: event StartupDone from site 1
	// site 2 appends 1/0 "k=v"
	// site 1: commit 1/0 permanent=true
	// client durable: 1/0
	// master sees site 2 at: 1/0
}

// Marshal and Unmarshal have exactly the signatures of the transport's
// Codec: the driver plugs rep messages in with one line, and every
// received body is decoded (and validated) by Unmarshal.
func Example_codec() {
	codec := transport.Codec[rep.Message]{Encode: rep.Marshal, Decode: rep.Unmarshal}

	b, err := codec.Encode(rep.Message{Type: rep.MsgAck, From: 2, To: 1, Gen: 7})
	fmt.Println(len(b) > 0, err)
	m, err := codec.Decode(b)
	fmt.Println(m.Type, m.From, m.To, m.Gen, err)
	_, err = codec.Decode([]byte{0xc1}) // garbage: an error, never a panic
	fmt.Println(err != nil)
	// Output:
	// true <nil>
	// ACK 2 1 7 <nil>
	// true
}
