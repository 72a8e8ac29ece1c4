package transport_test

import (
	"bytes"
	"errors"
	"fmt"

	"logship/rep/transport"
	"logship/rep/transport/memnet"
)

func ExampleReadFrame() {
	var wire bytes.Buffer
	transport.WriteFrame(&wire, []byte("hello, site 2"))
	fmt.Println("frame bytes:", wire.Len())

	body, err := transport.ReadFrame(&wire, 1024)
	fmt.Printf("%q %v\n", body, err)

	// A corrupted frame is an error, never a panic or a bad body.
	transport.WriteFrame(&wire, []byte("hello, site 2"))
	wire.Bytes()[transport.HeaderSize] ^= 0xff
	_, err = transport.ReadFrame(&wire, 1024)
	fmt.Println(errors.Is(err, transport.ErrChecksum))
	// Output:
	// frame bytes: 25
	// "hello, site 2" <nil>
	// true
}

// A Codec plugs typed messages into any Transport; here the in-memory
// network stands in for TCP.
func ExampleCodec() {
	type ack struct{ LSN string }
	codec := transport.Codec[ack]{
		Encode: func(a ack) ([]byte, error) { return []byte(a.LSN), nil },
		Decode: func(b []byte) (ack, error) { return ack{LSN: string(b)}, nil },
	}
	net := memnet.New(memnet.Config{Seed: 7})
	master, client := net.Endpoint(1), net.Endpoint(2)
	<-master.Recv() // conn-up from 2
	<-client.Recv() // conn-up from 1

	codec.Send(client, 1, ack{LSN: "3/4096"})
	net.Tick()
	m := <-master.Recv()
	a, _ := codec.Decode(m.Body)
	fmt.Printf("site %d acked %s\n", m.From, a.LSN)
	// Output:
	// site 2 acked 3/4096
}
