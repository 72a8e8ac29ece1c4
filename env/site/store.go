package site

// The election store: the elect HardState, kept in a raft-boltdb
// StableStore (elect.db) and written, fsynced, before any elect message
// that depends on it goes out (sitecore.Ready.State).

import (
	"encoding/binary"
	"errors"
	"fmt"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"logship/elect"
)

// electStoreFile is the stable store of the election HardState, in the
// environment's directory unless Config.Dir says otherwise.
const electStoreFile = "elect.db"

// hardStateKey is the raft-boltdb key holding the encoded HardState: one
// key, so a HardState is written in one fsynced bolt transaction.
var hardStateKey = []byte("elect/hardstate")

// hardStateVersion 3 appends the electability class; version 2 records
// (without it) and version 1 records (without Promised either) still
// decode, and elect.New derives what they lack.
const hardStateVersion = 3

// hardStateLenV1: version, EGen, VotedFor, Holder, HolderGen, tentative;
// hardStateLenV2 adds Promised; hardStateLen adds Electability (a byte).
const (
	hardStateLenV1 = 1 + 4*8 + 1
	hardStateLenV2 = hardStateLenV1 + 8
	hardStateLen   = hardStateLenV2 + 1
)

func encodeHardState(hs elect.HardState) []byte {
	b := make([]byte, hardStateLen)
	b[0] = hardStateVersion
	binary.BigEndian.PutUint64(b[1:], hs.EGen)
	binary.BigEndian.PutUint64(b[9:], uint64(hs.VotedFor))
	binary.BigEndian.PutUint64(b[17:], uint64(hs.Holder))
	binary.BigEndian.PutUint64(b[25:], hs.HolderGen)
	if hs.HolderTentative {
		b[33] = 1
	}
	binary.BigEndian.PutUint64(b[34:], hs.Promised)
	b[42] = byte(hs.Electability)
	return b
}

func decodeHardState(b []byte) (elect.HardState, error) {
	ok := len(b) == hardStateLen && b[0] == hardStateVersion ||
		len(b) == hardStateLenV2 && b[0] == 2 || len(b) == hardStateLenV1 && b[0] == 1
	if !ok || b[33] > 1 || len(b) == hardStateLen && b[42] > byte(elect.Unelectable) {
		return elect.HardState{}, fmt.Errorf("site: elect store: bad hard state record (%d bytes)", len(b))
	}
	hs := elect.HardState{
		EGen:            binary.BigEndian.Uint64(b[1:]),
		VotedFor:        elect.SiteID(binary.BigEndian.Uint64(b[9:])),
		Holder:          elect.SiteID(binary.BigEndian.Uint64(b[17:])),
		HolderGen:       binary.BigEndian.Uint64(b[25:]),
		HolderTentative: b[33] == 1,
	}
	if len(b) >= hardStateLenV2 {
		hs.Promised = binary.BigEndian.Uint64(b[34:])
	}
	if len(b) == hardStateLen {
		hs.Electability = elect.Electability(b[42])
	}
	return hs, nil
}

// electStore keeps the election HardState in a raft-boltdb StableStore.
type electStore struct {
	db *raftboltdb.BoltStore
}

// openElectStore opens (creating) the store at path.
func openElectStore(path string) (*electStore, error) {
	db, err := raftboltdb.NewBoltStore(path)
	if err != nil {
		return nil, fmt.Errorf("site: open elect store %s: %w", path, err)
	}
	return &electStore{db: db}, nil
}

// Load returns the last saved HardState, the zero one if none was saved.
func (s *electStore) Load() (elect.HardState, error) {
	b, err := s.db.Get(hardStateKey)
	if errors.Is(err, raftboltdb.ErrKeyNotFound) {
		return elect.HardState{}, nil
	}
	if err != nil {
		return elect.HardState{}, fmt.Errorf("site: elect store: %w", err)
	}
	return decodeHardState(b)
}

// Save writes hs durably: the bolt transaction is fsynced on commit.
func (s *electStore) Save(hs elect.HardState) error {
	if err := s.db.Set(hardStateKey, encodeHardState(hs)); err != nil {
		return fmt.Errorf("site: elect store: %w", err)
	}
	return nil
}

func (s *electStore) Close() error { return s.db.Close() }
