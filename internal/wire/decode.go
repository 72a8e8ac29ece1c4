package wire

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Decode unmarshals the msgpack value in b into v after checking that b is
// at most max bytes and structurally sound (Check). Every failure, including
// a panic inside the msgpack decoder, is returned as an error wrapping bad,
// the caller's sentinel.
func Decode(b []byte, max int, v any, bad error) (err error) {
	if len(b) > max {
		return fmt.Errorf("%w: %d bytes exceeds %d", bad, len(b), max)
	}
	if err := Check(b); err != nil {
		return fmt.Errorf("%w: %v", bad, err)
	}
	defer func() {
		// msgpack is not ours; a panic in it on hostile input must still
		// be an error here.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", bad, r)
		}
	}()
	if err := msgpack.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", bad, err)
	}
	return nil
}

// Message is a protocol message that checks the invariants its receiver
// relies on.
type Message[T any] interface {
	*T
	Validate() error
}

// Unmarshal decodes one message with Decode and validates it; every
// failure wraps bad.
func Unmarshal[T any, PT Message[T]](b []byte, max int, bad error) (T, error) {
	var m T
	if err := Decode(b, max, &m, bad); err != nil {
		return m, err
	}
	if err := PT(&m).Validate(); err != nil {
		var zero T
		return zero, err
	}
	return m, nil
}
