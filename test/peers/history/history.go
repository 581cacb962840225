// Package history writes the chaos suite's event lines (test/chaos/history.hpp)
// from Go contenders, and keeps the protected store exactly as the C++
// contender does, so that one checker judges every implementation.
package history

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Mono is CLOCK_MONOTONIC in nanoseconds: the clock every process of the
// suite stamps its events with (C++ steady_clock, Python monotonic_ns).
func Mono() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

// Log appends whole JSON lines with one write(2) each: a kill loses at most
// the line being written.
type Log struct {
	f       *os.File
	process string
}

func Open(path, process string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Log{f: f, process: process}, nil
}

// Event logs kind with fields, stamped now.
func (l *Log) Event(kind string, fields map[string]any) { l.EventAt(Mono(), kind, fields) }

// EventAt logs kind with fields, stamped t (CLOCK_MONOTONIC ns).
func (l *Log) EventAt(t int64, kind string, fields map[string]any) {
	m := map[string]any{"t": t, "p": l.process, "e": kind}
	for k, v := range fields {
		m[k] = v
	}
	line, _ := json.Marshal(m)
	l.f.Write(append(line, '\n'))
}

// Token is (epoch, sequence): the Lease's uid and leaseTransitions.
type Token struct {
	Epoch string
	Seq   int64
}

// WriteStore writes tok to the store at path if it is not older than the
// token stored there (same epoch, sequence not below), deciding and
// stamping under flock(2) as the C++ contender does: the stamps are the
// store's order. The lock is tried without blocking so that a stopped
// holder of it does not freeze this process.
func WriteStore(path string, tok Token) (accepted bool, at int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	fd := int(f.Fd())
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			return false, 0, fmt.Errorf("flock: %w", err)
		}
		time.Sleep(500 * time.Microsecond)
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	at = Mono()
	buf := make([]byte, 511)
	n, _ := unix.Pread(fd, buf, 0)
	storedEpoch, storedSeq := "", int64(-1)
	if n > 0 {
		var e string
		var s int64
		if c, _ := fmt.Sscanf(string(buf[:n]), "%s %d", &e, &s); c == 2 {
			storedEpoch, storedSeq = e, s
		}
	}
	accepted = storedEpoch == "" || (storedEpoch == tok.Epoch && tok.Seq >= storedSeq)
	if accepted {
		// One fixed-size write, no truncation: a kill cannot leave it empty.
		text := fmt.Sprintf("%s %d", tok.Epoch, tok.Seq)
		text += strings.Repeat(" ", max(0, 300-len(text))) + "\n"
		if _, err := unix.Pwrite(fd, []byte(text), 0); err != nil {
			return false, at, err
		}
	}
	return accepted, at, nil
}
