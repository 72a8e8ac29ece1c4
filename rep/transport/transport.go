package transport

import "fmt"

// ID identifies a site in a replication group. Zero is not a site: it means
// "none".
type ID uint64

// Kind says what a Message on the receive channel is.
type Kind uint8

const (
	// KindMessage is a message body received from a peer (the zero value,
	// so Message{From: 2, Body: b} is a plain message).
	KindMessage Kind = iota
	// KindConnUp reports that a connection to From was established. It
	// precedes every message received on that connection.
	KindConnUp
	// KindConnDown reports that the connection to From was lost. It
	// follows every message received on that connection.
	KindConnDown
)

func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindConnUp:
		return "conn-up"
	case KindConnDown:
		return "conn-down"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Message is what a transport delivers: a body from a peer, or a
// connection event. Connection events travel on the same channel as bodies
// so that the one goroutine driving the protocol sees them in order
// (up, messages, down) without selecting over two channels.
type Message struct {
	From ID
	Kind Kind
	Body []byte // the receiver owns it; nil for connection events
}

// Transport moves opaque message bodies between the sites of a group. The
// TCP transport and memnet's in-memory network both implement it; env
// drives replication through it, and an embedder may supply its own.
//
// Delivery is best effort: a message may be lost (queue full, connection
// down), and the replication protocol above re-requests what it misses.
// Messages sent to one peer over one connection arrive in order.
type Transport interface {
	// Send queues body for to and returns at once; it never blocks on the
	// network. The caller must not modify body afterwards. It fails with
	// ErrNotConnected or ErrQueueFull when the message is dropped.
	Send(to ID, body []byte) error
	// Broadcast queues body for every connected peer and returns how many
	// accepted it.
	Broadcast(body []byte) int
	// Recv returns the channel of received messages and connection events.
	// It is closed by Close.
	Recv() <-chan Message
	// Connected reports whether there is a live connection to id.
	Connected(id ID) bool
	// Close stops the transport and every goroutine it started.
	Close() error
}

// Codec turns typed messages into bodies and back; the rep package plugs
// its msgpack messages in with one. Decode must return an error, never
// panic, on malformed input.
type Codec[M any] struct {
	Encode func(M) ([]byte, error)
	Decode func([]byte) (M, error)
}

// Send encodes m and sends it to to over t.
func (c Codec[M]) Send(t Transport, to ID, m M) error {
	b, err := c.Encode(m)
	if err != nil {
		return fmt.Errorf("transport: encode message for site %d: %w", to, err)
	}
	return t.Send(to, b)
}
