package vfs

import (
	"errors"
	"os"
	"strings"
	"sync"
)

// Op names a file-system operation an [Injector] can fail.
type Op int

// The operations an Injector can fail.
const (
	OpOpen Op = iota
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpClose
	OpRemove
	OpRename
	OpReadDir
	OpMkdir
	OpSyncDir
)

var opNames = [...]string{"open", "read", "write", "sync", "truncate", "close", "remove", "rename", "readdir", "mkdir", "syncdir"}

func (o Op) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return "op(?)"
}

// ErrInjected is the error an injected fault returns unless the Fault names
// another.
var ErrInjected = errors.New("vfs: injected fault")

// Fault describes operations to fail.
type Fault struct {
	Op Op
	// Path, if set, restricts the fault to names containing it.
	Path string
	// Skip lets this many matching calls succeed before the fault fires.
	Skip int
	// Times is how many calls fail once the fault fires; 0 means forever.
	Times int
	// Short, for OpWrite, writes this many bytes of the buffer before
	// failing, the way a full disk or a signal would.
	Short int
	// Err is returned; ErrInjected if nil.
	Err error
}

// Injector wraps a file system and fails operations as the faults added
// with Inject say. It is safe for concurrent use.
type Injector struct {
	FS
	mu      sync.Mutex
	faults  []*fault
	fired   int
	holds   []*hold
	holding int // calls waiting on a hold now
}

// hold is a Hold not yet released.
type hold struct {
	op      Op
	path    string
	release chan struct{}
}

type fault struct {
	Fault
	seen, failed int
}

// NewInjector returns an Injector over fs with no faults.
func NewInjector(fs FS) *Injector { return &Injector{FS: fs} }

// Inject adds a fault.
func (i *Injector) Inject(f Fault) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if f.Err == nil {
		f.Err = ErrInjected
	}
	i.faults = append(i.faults, &fault{Fault: f})
}

// Clear removes every fault.
func (i *Injector) Clear() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.faults = nil
}

// Fired returns how many calls have been failed so far.
func (i *Injector) Fired() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.fired
}

// check waits out any hold on this call, then returns the fault that
// fails it, if any.
func (i *Injector) check(op Op, name string) *Fault {
	i.wait(op, name)
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, f := range i.faults {
		if f.Op != op || (f.Path != "" && !strings.Contains(name, f.Path)) {
			continue
		}
		f.seen++
		if f.seen <= f.Skip || (f.Times > 0 && f.failed >= f.Times) {
			continue
		}
		f.failed++
		i.fired++
		return &f.Fault
	}
	return nil
}

func (i *Injector) err(op Op, name string) error {
	if f := i.check(op, name); f != nil {
		return &os.PathError{Op: op.String(), Path: name, Err: f.Err}
	}
	return nil
}

func (i *Injector) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := i.err(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := i.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &injFile{File: f, inj: i}, nil
}

func (i *Injector) Remove(name string) error {
	if err := i.err(OpRemove, name); err != nil {
		return err
	}
	return i.FS.Remove(name)
}

func (i *Injector) Rename(oldpath, newpath string) error {
	if err := i.err(OpRename, oldpath); err != nil {
		return err
	}
	return i.FS.Rename(oldpath, newpath)
}

func (i *Injector) ReadDir(dir string) ([]string, error) {
	if err := i.err(OpReadDir, dir); err != nil {
		return nil, err
	}
	return i.FS.ReadDir(dir)
}

func (i *Injector) MkdirAll(dir string, perm os.FileMode) error {
	if err := i.err(OpMkdir, dir); err != nil {
		return err
	}
	return i.FS.MkdirAll(dir, perm)
}

func (i *Injector) SyncDir(dir string) error {
	if err := i.err(OpSyncDir, dir); err != nil {
		return err
	}
	return i.FS.SyncDir(dir)
}

type injFile struct {
	File
	inj *Injector
}

func (f *injFile) Read(p []byte) (int, error) {
	if err := f.inj.err(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *injFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.inj.err(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

// short writes the part of p a Short fault lets through, then fails.
func (f *injFile) short(flt *Fault, p []byte, write func([]byte) (int, error)) (int, error) {
	n := 0
	if flt.Short > 0 {
		var err error
		if n, err = write(p[:min(flt.Short, len(p))]); err != nil {
			return n, err
		}
	}
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: flt.Err}
}

func (f *injFile) Write(p []byte) (int, error) {
	if flt := f.inj.check(OpWrite, f.Name()); flt != nil {
		return f.short(flt, p, f.File.Write)
	}
	return f.File.Write(p)
}

func (f *injFile) WriteAt(p []byte, off int64) (int, error) {
	if flt := f.inj.check(OpWrite, f.Name()); flt != nil {
		return f.short(flt, p, func(b []byte) (int, error) { return f.File.WriteAt(b, off) })
	}
	return f.File.WriteAt(p, off)
}

func (f *injFile) Sync() error {
	if err := f.inj.err(OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *injFile) Truncate(size int64) error {
	if err := f.inj.err(OpTruncate, f.Name()); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *injFile) Close() error {
	if err := f.inj.err(OpClose, f.Name()); err != nil {
		f.File.Close()
		return err
	}
	return f.File.Close()
}

// StartWriteback passes the hint through when the wrapped file takes it.
func (f *injFile) StartWriteback(off, n int64) error {
	if w, ok := f.File.(WritebackStarter); ok {
		return w.StartWriteback(off, n)
	}
	return nil
}

// SyncRange passes through when the wrapped file can.
func (f *injFile) SyncRange(off, n int64) error {
	if w, ok := f.File.(RangeSyncer); ok {
		return w.SyncRange(off, n)
	}
	return nil
}
