package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"

	"logship/env"
	"logship/rep"
	"logship/wal/lsn"
	"logship/wal/vfs"
)

// envStorage is Storage over a real env, carried out through its
// synchronous replication layer (env.Replica): the log on a crashable
// vfs.MemFS that survives the env (so a crash loses exactly the unsynced
// log bytes), bbolt on disk in the run's temporary directory.
type envStorage struct {
	dir string
	id  rep.SiteID
	fs  *vfs.MemFS
	cfg env.Config
	e   *env.Env
	r   *env.Replica
	// baseGen: the generation of the last record the data reflects when
	// the log is empty (after an install).
	baseGen uint64
}

func newEnvStorage(root string, id rep.SiteID) (Storage, error) {
	s := &envStorage{dir: filepath.Join(root, fmt.Sprintf("site-%d", id)), id: id, fs: vfs.NewMem()}
	s.cfg = env.DefaultConfig()
	s.cfg.FS = s.fs
	s.cfg.LogFileSize = 16 << 10 // several files per run, for Archive (the least MaxKeySize allows)
	s.cfg.MaxValueSize = 256
	s.cfg.ApplyDelay = 0
	s.cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := s.Reopen(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *envStorage) Reopen() error {
	e, err := env.Open(s.dir, s.cfg)
	if err != nil {
		return fmt.Errorf("site %d: env.Open: %w", s.id, err)
	}
	s.e, s.r = e, e.Replica()
	s.r.SetSite(uint64(s.id))
	s.baseGen = e.Generation() // recovered: the last record's
	return nil
}

func (s *envStorage) Log() rep.LogReader { return s.r }

func (s *envStorage) Carry(rd rep.Ready) ([]RecID, error) {
	var rolled []RecID
	if rb := rd.Rollback; rb != nil {
		// What the rollback removes, for the permanence check.
		for at := s.r.Last(); rb.To.Less(at); {
			r, err := s.r.Read(at)
			if err != nil {
				return nil, fmt.Errorf("rollback to %s: read %s: %w", rb.To, at, err)
			}
			rolled = append(rolled, RecID{r.LSN, r.Gen, r.Checksum})
			if at, err = s.r.Prev(at); err != nil {
				return nil, fmt.Errorf("rollback to %s: prev of %s: %w", rb.To, r.LSN, err)
			}
		}
		if _, _, err := s.r.Rollback(context.Background(), *rb); err != nil {
			return rolled, err
		}
	}
	for _, c := range rd.Chunks {
		if err := s.r.WriteChunk(c); err != nil {
			return rolled, err
		}
	}
	if rd.Install != nil {
		if err := s.r.Install(*rd.Install); err != nil {
			return rolled, err
		}
		s.baseGen = s.e.Generation() // the snapshot header's

	}
	return rolled, s.r.Append(rd.Append)
}

func (s *envStorage) Commit(gen uint64, w []KV) (rep.Record, error) {
	s.r.SetGeneration(gen)
	return s.r.Commit(context.Background(), func(tx *env.Tx) error {
		for _, kv := range w {
			if err := tx.Put("sim", []byte(kv.Key), []byte(kv.Value)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *envStorage) Sync() (lsn.LSN, error) { return s.r.Sync() }

func (s *envStorage) Snapshot(uint64) (rep.SnapInfo, rep.SnapshotReader, error) {
	return s.r.TakeSnapshot()
}

func (s *envStorage) Release(id uint64) { _ = s.r.ReleaseSnapshot(id) }

func (s *envStorage) LastGen() uint64 {
	if r, err := s.r.Read(s.r.Last()); err == nil {
		return r.Gen
	}
	return s.baseGen
}

func (s *envStorage) Records() ([]RecID, error) {
	var out []RecID
	first := s.r.First()
	if first.IsZero() {
		return nil, nil
	}
	r, err := s.r.Read(first)
	for err == nil {
		out = append(out, RecID{r.LSN, r.Gen, r.Checksum})
		r, err = s.r.Next(r.LSN)
	}
	if !errors.Is(err, rep.ErrNotFound) {
		return out, fmt.Errorf("site %d: read log after %s: %w", s.id, r.LSN, err)
	}
	return out, nil
}

func (s *envStorage) Data() ([]KV, error) {
	at, err := s.r.Sync()
	if err != nil {
		return nil, err
	}
	if err := s.e.WaitApplied(context.Background(), env.Token{LSN: at}); err != nil {
		return nil, err
	}
	var out []KV
	err = s.e.View(func(tx *env.ReadTx) error {
		return tx.Scan("sim", env.Range{}, func(k, v []byte) error {
			out = append(out, KV{string(k), string(v)})
			return nil
		})
	})
	return out, err
}

// Crash: the MemFS loses what was not synced and the env's handles on it
// go stale; the env is then closed, which can no longer write the log (its
// errors are expected and ignored), and releases bbolt's file lock so the
// site can reopen.
func (s *envStorage) Crash(torn *rand.Rand) error {
	if torn != nil {
		s.fs.CrashTorn(torn)
	} else {
		s.fs.Crash()
	}
	s.r.Close()
	_ = s.e.Close()
	s.e, s.r = nil, nil
	return nil
}

func (s *envStorage) Close() error {
	if s.e == nil {
		return nil
	}
	s.r.Close()
	err := s.e.Close()
	s.e, s.r = nil, nil
	return err
}

func (s *envStorage) Describe() string {
	st := s.e.Stats()
	return fmt.Sprintf(" applied=%s", st.AppliedLSN)
}

func (s *envStorage) Archive(*rand.Rand) (bool, error) {
	if _, err := s.e.Checkpoint(context.Background()); err != nil {
		return false, err
	}
	removed, err := s.e.RemoveLogs()
	return len(removed) > 0, err
}
