package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"syscall"

	"logship/env"
	"logship/rep"
	"logship/wal/lsn"
	"logship/wal/vfs"
)

// envStorage is Storage over a real env, carried out through the calls
// the replication runtime makes: env.Replica.CarryOut for rep's work,
// env.Append and Pending.Durable for local commits, env.Admit and
// env.Shut for the fence, env.WaitToken and env.ViewAt for token reads.
// The log is on a crashable vfs.MemFS that survives the env (so a crash
// loses exactly the unsynced log bytes) behind a vfs.Injector (storage
// faults); bbolt is on disk in the run's temporary directory.
type envStorage struct {
	dir string
	id  rep.SiteID
	fs  *vfs.MemFS
	inj *vfs.Injector
	cfg env.Config
	e   *env.Env
	r   *env.Replica
	// pending is the last local commit, appended but not yet durable.
	pending *env.Pending
	damage  bool // DamageNextInstall
	// shared is the shared record as the run keeps it (KeepShared). env
	// stores its own with the applier's batches, which run on their own
	// goroutine: what a crash leaves of that depends on timing, and a
	// seed must replay the same run, so a restart reads this one.
	shared lsn.LSN
}

// newEnvStorage opens the env of a site at dir with cfg (the daemon's
// env configuration: daemon.Config.EnvConfig), its log on a MemFS.
func newEnvStorage(dir string, id rep.SiteID, cfg env.Config) (*envStorage, error) {
	s := &envStorage{dir: dir, id: id, fs: vfs.NewMem()}
	s.inj = vfs.NewInjector(s.fs)
	s.cfg = cfg
	s.cfg.FS = s.inj
	s.cfg.ApplyDelay = 0
	// Periodic duties run on the real clock: the run's Archive fault
	// checkpoints instead, on its schedule.
	s.cfg.CheckpointInterval, s.cfg.VerifyInterval = 0, 0
	s.cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := s.Reopen(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *envStorage) Reopen() error {
	s.inj.Clear() // repaired
	e, err := env.Open(s.dir, s.cfg)
	if err != nil {
		return fmt.Errorf("site %d: env.Open: %w", s.id, err)
	}
	s.e, s.r = e, e.Replica()
	s.r.SetSite(uint64(s.id))
	return nil
}

func (s *envStorage) Log() rep.LogReader { return s.r }

func (s *envStorage) Carry(rd rep.Ready, send func(rep.Message)) ([]RecID, *Snap, error) {
	var rolled []RecID
	if rb := rd.Rollback; rb != nil {
		var err error
		if rolled, err = s.after(rb.To); err != nil {
			return nil, nil, err
		}
	}
	if n := len(rd.Chunks); rd.Install != nil && s.damage && n > 0 && len(rd.Chunks[n-1].Data) > 0 {
		// One byte of the snapshot's last chunk changed on its way to
		// the disk: the checksum folded over the chunks as they are
		// written no longer matches the snapshot's trailer.
		s.damage = false
		cs := slices.Clone(rd.Chunks)
		d := slices.Clone(cs[n-1].Data)
		d[len(d)/2] ^= 0xff
		cs[n-1].Data = d
		rd.Chunks = cs
	}
	if err := s.r.CarryOut(context.Background(), rd, send); err != nil {
		return rolled, nil, err
	}
	if rb := rd.Rollback; rb != nil {
		s.shared = lsn.Min(s.shared, rb.To)
	}
	if in := rd.Install; in != nil {
		s.shared = lsn.Min(s.shared, in.Snap.LSN)
	}
	if !rd.TakeSnapshot {
		return rolled, nil, nil
	}
	taken, err := s.r.TakeSnapshot()
	if err != nil {
		return rolled, nil, err
	}
	return rolled, &Snap{Info: taken.Info, Reader: taken.Reader}, nil
}

// after lists the records after to, newest first: what a rollback to it
// removes.
func (s *envStorage) after(to lsn.LSN) ([]RecID, error) {
	var out []RecID
	for at := s.r.Last(); to.Less(at); {
		r, err := s.r.Read(at)
		if err != nil {
			return nil, fmt.Errorf("rollback to %s: read %s: %w", to, at, err)
		}
		out = append(out, recID(r))
		if at, err = s.r.Prev(at); err != nil {
			return nil, fmt.Errorf("rollback to %s: prev of %s: %w", to, r.LSN, err)
		}
	}
	return out, nil
}

func (s *envStorage) Admit(gen uint64) { s.e.Admit(gen) }

func (s *envStorage) Shut() lsn.LSN { return s.e.Shut() }

// Commit appends a transaction as the runtime's Update does (env.Append)
// and leaves it pending; the previous pending commit is made durable
// first: one goroutine cannot hold two members of a group commit.
func (s *envStorage) Commit(w []KV) (Committed, error) {
	if err := s.settle(); err != nil {
		return Committed{}, err
	}
	p, err := s.e.Append(context.Background(), func(tx *env.Tx) error {
		if len(w) == 0 {
			tx.Mark()
		}
		for _, kv := range w {
			if err := tx.Put(simBucket, []byte(kv.Key), []byte(kv.Value)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Committed{}, err
	}
	if !p.Wrote() {
		_, err := p.Durable() // ErrNotWritable, or fn's error
		return Committed{}, err
	}
	s.pending = p
	return Committed{Rec: p.Record(), Token: p.Token, Epoch: p.Epoch}, nil
}

// settle makes the pending commit durable (the committer's Durable).
func (s *envStorage) settle() error {
	p := s.pending
	if p == nil {
		return nil
	}
	s.pending = nil
	_, err := p.Durable()
	return err
}

func (s *envStorage) Sync() (lsn.LSN, error) {
	if err := s.settle(); err != nil {
		return lsn.Zero, err
	}
	return s.r.Sync()
}

func (s *envStorage) Release(id uint64) { _ = s.r.ReleaseSnapshot(id) }

func (s *envStorage) Durable() lsn.LSN { return s.r.Durable() }

func (s *envStorage) DamageNextInstall() { s.damage = true }

func (s *envStorage) Distance(a, b lsn.LSN) int64 { return s.e.Distance(a, b) }

// KeepShared hands at to env too, so that its storing and lowering run
// under the run's faults; Shared gives back the run's own (see shared).
func (s *envStorage) KeepShared(at lsn.LSN) { s.shared = at; s.r.KeepShared(at) }
func (s *envStorage) Shared() lsn.LSN       { return s.shared }

func (s *envStorage) LastGen() uint64 {
	if r, err := s.r.Read(s.r.Last()); err == nil {
		return r.Gen
	}
	_, gen := s.r.Base()
	return max(gen, s.e.Generation())
}

func (s *envStorage) Records() ([]RecID, error) {
	var out []RecID
	first := s.r.First()
	if first.IsZero() {
		return nil, nil
	}
	r, err := s.r.Read(first)
	for err == nil {
		out = append(out, recID(r))
		r, err = s.r.Next(r.LSN)
	}
	if !errors.Is(err, rep.ErrNotFound) {
		return out, fmt.Errorf("site %d: read log after %s: %w", s.id, r.LSN, err)
	}
	return out, nil
}

// simBucket holds the run's keys.
const simBucket = "sim"

func (s *envStorage) Data() ([]KV, error) {
	at, err := s.Sync()
	if err != nil {
		return nil, err
	}
	if err := s.e.WaitApplied(context.Background(), env.Token{LSN: at}); err != nil {
		return nil, err
	}
	var out []KV
	err = s.e.ViewApplied(func(tx *env.ReadTx) error {
		return tx.Scan(simBucket, env.Range{}, func(k, v []byte) error {
			out = append(out, KV{string(k), string(v)})
			return nil
		})
	})
	return out, err
}

func (s *envStorage) Get(key string) (string, bool, lsn.LSN, error) {
	var (
		val []byte
		at  lsn.LSN
	)
	err := s.e.View(func(tx *env.ReadTx) error {
		at = tx.AppliedLSN()
		var err error
		val, err = tx.Get(simBucket, []byte(key))
		return err
	})
	return string(val), val != nil, at, err
}

func (s *envStorage) GetAt(tok env.Token, final env.Finality, key string) (string, bool, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no waiting: the run is single-threaded; it asks again later
	var val []byte
	err := s.e.ViewAt(ctx, tok, final, func(tx *env.ReadTx) error {
		var err error
		val, err = tx.Get(simBucket, []byte(key))
		return err
	})
	if errors.Is(err, context.Canceled) {
		return "", true, errNotYet
	}
	return string(val), true, err
}

func (s *envStorage) Fault(f StorageFault, r *rand.Rand) bool {
	skip := r.IntN(4) // let a few calls through first
	switch f {
	case FaultFullDisk:
		s.inj.Inject(vfs.Fault{Op: vfs.OpWrite, Skip: skip, Short: r.IntN(64), Err: syscall.ENOSPC})
	case FaultWriteIO:
		s.inj.Inject(vfs.Fault{Op: vfs.OpWrite, Skip: skip, Err: syscall.EIO})
	case FaultSyncIO:
		s.inj.Inject(vfs.Fault{Op: vfs.OpSync, Skip: skip, Err: syscall.EIO})
	case FaultOpen:
		err := syscall.ENOSPC
		if r.IntN(2) == 0 {
			err = syscall.EMFILE
		}
		s.inj.Inject(vfs.Fault{Op: vfs.OpOpen, Err: err})
		// A log that never needs a new file would not notice: fill it.
		s.inj.Inject(vfs.Fault{Op: vfs.OpWrite, Skip: skip + 8, Err: syscall.ENOSPC})
	}
	return true
}

func (s *envStorage) Fail(err error) {
	if s.e != nil {
		_ = s.e.Fail(err)
	}
}

func (s *envStorage) Failure() error {
	if s.e == nil {
		return nil
	}
	return s.e.Failure()
}

// Crash: the MemFS loses what was not synced and the env's handles on it
// go stale; a commit still pending then fails its fsync; the env is then
// closed, which can no longer write the log (its errors are expected and
// ignored), and releases bbolt's file lock so the site can reopen.
func (s *envStorage) Crash(torn *rand.Rand) error {
	if torn != nil {
		s.fs.CrashTorn(torn)
	} else {
		s.fs.Crash()
	}
	_ = s.settle()
	s.r.Close()
	_ = s.e.Close()
	s.e, s.r = nil, nil
	return nil
}

func (s *envStorage) Close() error {
	if s.e == nil {
		return nil
	}
	_ = s.settle()
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

// Members reads the applied data's membership, then the log after the
// applied point, as the runtime does (env/site loadMembership).
func (s *envStorage) Members() ([]byte, lsn.LSN, error) {
	var val []byte
	var at lsn.LSN
	err := s.e.ViewApplied(func(tx *env.ReadTx) error {
		v, err := tx.Get(simBucket, []byte(membersKey))
		val, at = v, tx.AppliedLSN()
		return err
	})
	if err != nil {
		return nil, lsn.Zero, err
	}
	last := s.r.Last()
	for pos := at; pos.Less(last); {
		r, err := s.r.Next(pos)
		if err != nil {
			return nil, lsn.Zero, fmt.Errorf("site %d: membership: read log after %s: %w", s.id, pos, err)
		}
		if !pos.Less(r.LSN) {
			break
		}
		pos = r.LSN
		if v, ok := s.MembersIn(r); ok {
			val, at = v, r.LSN
		}
	}
	return val, at, nil
}

func (s *envStorage) MembersIn(r rep.Record) ([]byte, bool) {
	return env.FindPut(r.Payload, simBucket, []byte(membersKey))
}
