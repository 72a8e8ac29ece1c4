package vfs

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// ErrCrashed is returned by every operation on a file handle opened before
// the last [MemFS.Crash]: the process that held it is gone.
var ErrCrashed = errors.New("vfs: file handle from before a crash")

// MemFS is an in-memory file system that models what survives a power
// failure. For every file it keeps the current bytes and the bytes made
// durable by the last Sync; for every directory it keeps the current names
// and the names made durable by the last SyncDir. Crash throws away
// everything that was not made durable.
//
// The model is deliberately harsh: a file created but not followed by a
// SyncDir vanishes on crash even if its data was synced, and a removal or
// rename not followed by a SyncDir is undone.
type MemFS struct {
	mu      sync.Mutex
	gen     int              // bumped by Crash; stale handles fail
	names   map[string]*node // current namespace
	durable map[string]*node // namespace as of each directory's last SyncDir
	dirs    map[string]bool  // directories (never lost: MkdirAll is treated as durable)
}

type node struct {
	data   []byte
	synced []byte
	// dirty is the lowest offset changed since the last Sync, so that
	// syncing an appended file copies only the new bytes.
	dirty int
}

func (n *node) touch(off int) {
	if off < n.dirty {
		n.dirty = off
	}
}

// NewMem returns an empty in-memory file system.
func NewMem() *MemFS {
	return &MemFS{
		names:   map[string]*node{},
		durable: map[string]*node{},
		dirs:    map[string]bool{"/": true, ".": true},
	}
}

func clean(name string) string { return filepath.Clean(name) }

// Crash simulates a power failure: every file reverts to its last synced
// contents and every directory to its last synced entries. Open handles
// become unusable.
func (m *MemFS) Crash() { m.crash(nil) }

// CrashTorn is Crash, except that a file whose unsynced change was a pure
// append keeps a random prefix of the appended bytes, as a disk that wrote
// some sectors of an in-flight write would. rng chooses the prefix.
func (m *MemFS) CrashTorn(rng *rand.Rand) { m.crash(rng) }

func (m *MemFS) crash(rng *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	names := make(map[string]*node, len(m.durable))
	for name, n := range m.durable {
		keep := n.synced
		if rng != nil && len(n.data) > len(n.synced) && string(n.data[:len(n.synced)]) == string(n.synced) {
			keep = n.data[:len(n.synced)+rng.IntN(len(n.data)-len(n.synced)+1)]
		}
		fresh := &node{data: append([]byte(nil), keep...)}
		fresh.synced = append([]byte(nil), fresh.data...)
		fresh.dirty = len(fresh.data)
		names[name] = fresh
	}
	m.names = names
	m.durable = make(map[string]*node, len(names))
	for k, v := range names {
		m.durable[k] = v
	}
}

// Bytes returns a copy of the current contents of name, for tests that
// corrupt or inspect files directly.
func (m *MemFS) Bytes(name string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.names[clean(name)]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), n.data...), true
}

// SetBytes replaces the contents of name (creating it) and marks them
// durable, for tests that plant damaged files.
func (m *MemFS) SetBytes(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	n := &node{data: append([]byte(nil), data...), dirty: len(data)}
	n.synced = append([]byte(nil), data...)
	m.names[name] = n
	m.durable[name] = n
}

func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if !m.dirs[filepath.Dir(name)] {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}
	if m.dirs[name] {
		return nil, &os.PathError{Op: "open", Path: name, Err: errors.New("is a directory")}
	}
	n, ok := m.names[name]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	case !ok:
		n = &node{}
		m.names[name] = n
	}
	if flag&os.O_TRUNC != 0 && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		n.data = n.data[:0:0]
		n.touch(0)
	}
	return &memFile{fs: m, n: n, name: name, gen: m.gen, flag: flag}, nil
}

func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if _, ok := m.names[name]; !ok {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	delete(m.names, name)
	return nil
}

func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	oldpath, newpath = clean(oldpath), clean(newpath)
	n, ok := m.names[oldpath]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrNotExist}
	}
	if !m.dirs[filepath.Dir(newpath)] {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrNotExist}
	}
	delete(m.names, oldpath)
	m.names[newpath] = n
	return nil
}

func (m *MemFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = clean(dir)
	if !m.dirs[dir] {
		return nil, &os.PathError{Op: "readdir", Path: dir, Err: os.ErrNotExist}
	}
	var out []string
	for name := range m.names {
		if filepath.Dir(name) == dir {
			out = append(out, filepath.Base(name))
		}
	}
	for d := range m.dirs {
		if d != dir && filepath.Dir(d) == dir {
			out = append(out, filepath.Base(d))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := clean(dir); !m.dirs[d]; d = filepath.Dir(d) {
		if _, isFile := m.names[d]; isFile {
			return &os.PathError{Op: "mkdir", Path: d, Err: errors.New("not a directory")}
		}
		m.dirs[d] = true
	}
	return nil
}

func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = clean(dir)
	if !m.dirs[dir] {
		return &os.PathError{Op: "syncdir", Path: dir, Err: os.ErrNotExist}
	}
	for name := range m.durable {
		if filepath.Dir(name) == dir {
			delete(m.durable, name)
		}
	}
	for name, n := range m.names {
		if filepath.Dir(name) == dir {
			m.durable[name] = n
		}
	}
	return nil
}

type memFile struct {
	fs     *MemFS
	n      *node
	name   string
	gen    int
	flag   int
	off    int64
	closed bool
}

// check must be called with fs.mu held.
func (f *memFile) check(write bool) error {
	switch {
	case f.closed:
		return os.ErrClosed
	case f.gen != f.fs.gen:
		return ErrCrashed
	case write && f.flag&(os.O_WRONLY|os.O_RDWR) == 0:
		return &os.PathError{Op: "write", Path: f.name, Err: errors.New("file opened read-only")}
	}
	return nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return 0, err
	}
	n, err := f.readAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return 0, err
	}
	return f.readAt(p, off)
}

func (f *memFile) readAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &os.PathError{Op: "read", Path: f.name, Err: errors.New("negative offset")}
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(true); err != nil {
		return 0, err
	}
	if f.flag&os.O_APPEND != 0 {
		f.off = int64(len(f.n.data))
	}
	f.writeAt(p, f.off)
	f.off += int64(len(p))
	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: errors.New("negative offset")}
	}
	f.writeAt(p, off)
	return len(p), nil
}

func (f *memFile) writeAt(p []byte, off int64) {
	f.n.touch(int(off))
	if end := off + int64(len(p)); end > int64(len(f.n.data)) {
		f.n.data = append(f.n.data, make([]byte, end-int64(len(f.n.data)))...)
	}
	copy(f.n.data[off:], p)
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(true); err != nil {
		return err
	}
	if size < 0 {
		return &os.PathError{Op: "truncate", Path: f.name, Err: errors.New("negative size")}
	}
	f.n.touch(int(min(size, int64(len(f.n.data)))))
	if size <= int64(len(f.n.data)) {
		f.n.data = f.n.data[:size]
	} else {
		f.n.data = append(f.n.data, make([]byte, size-int64(len(f.n.data)))...)
	}
	return nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return err
	}
	start := min(f.n.dirty, len(f.n.synced))
	f.n.synced = append(f.n.synced[:start], f.n.data[start:]...)
	f.n.dirty = len(f.n.data)
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return 0, err
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return os.ErrClosed
	}
	f.closed = true
	return nil
}

// String describes the file system's current files, for test failure
// messages.
func (m *MemFS) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for name, n := range m.names {
		names = append(names, fmt.Sprintf("%s(%d/%d synced)", name, len(n.data), len(n.synced)))
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}
