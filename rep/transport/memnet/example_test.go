package memnet_test

import (
	"fmt"

	"logship/rep/transport"
	"logship/rep/transport/memnet"
)

// A simulator attaches sites, sends, and moves virtual time; messages
// arrive only when the clock reaches them.
func Example() {
	net := memnet.New(memnet.Config{Seed: 1, MinDelay: 2, MaxDelay: 2})
	master, client := net.Endpoint(1), net.Endpoint(2)

	ev := <-client.Recv()
	fmt.Println("client:", ev.Kind, "from", ev.From)
	<-master.Recv()

	master.Send(2, []byte("log record 1/28"))
	fmt.Println("delivered after 1 tick:", net.Tick())
	fmt.Println("delivered after 2 ticks:", net.Tick())
	m := <-client.Recv()
	fmt.Printf("client got %q from site %d at tick %d\n", m.Body, m.From, net.Now())

	net.Partition([]transport.ID{1}, []transport.ID{2})
	fmt.Println("connected during partition:", master.Connected(2))
	// Output:
	// client: conn-up from 1
	// delivered after 1 tick: 0
	// delivered after 2 ticks: 1
	// client got "log record 1/28" from site 1 at tick 2
	// connected during partition: false
}
