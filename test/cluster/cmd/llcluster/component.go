package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// All children are started from one OS thread that never exits, because
// Pdeathsig fires when the *thread* that forked a child ends: this way
// etcd and kube-apiserver die with the supervisor, however it dies.
var spawnRequests = make(chan func())

func init() {
	go func() {
		runtime.LockOSThread()
		for f := range spawnRequests {
			f()
		}
	}()
}

func spawn(cmd *exec.Cmd) error {
	result := make(chan error)
	spawnRequests <- func() { result <- cmd.Start() }
	return <-result
}

// component is one child process (etcd or kube-apiserver) that can be
// stopped, killed, paused and started again with the same arguments.
type component struct {
	name    string
	binary  string
	args    func() []string // evaluated at each start: ports may change
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func (c *component) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		select {
		case <-c.exited: // it died by itself: start it again
			c.cmd, c.exited = nil, nil
		default:
			return fmt.Errorf("%s is already running", c.name)
		}
	}
	log, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "\n==== %s starting at %s\n", c.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.binary, c.args()...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn(cmd); err != nil {
		log.Close()
		return fmt.Errorf("starting %s: %w", c.name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		log.Close()
		close(exited)
	}()
	c.cmd, c.exited = cmd, exited
	return nil
}

// running reports whether the process is alive (a paused one is).
func (c *component) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// pid is 0 unless the process runs (a dead one's pid may be reused).
func (c *component) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return 0
	}
	select {
	case <-c.exited:
		return 0
	default:
		return c.cmd.Process.Pid
	}
}

func (c *component) signal(sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return fmt.Errorf("%s is not running", c.name)
	}
	select {
	case <-c.exited: // its pid may be someone else's by now
		return fmt.Errorf("%s is not running", c.name)
	default:
	}
	return syscall.Kill(-c.cmd.Process.Pid, sig)
}

// stop ends the process: SIGTERM (after SIGCONT, in case it is paused),
// then SIGKILL once grace has passed; grace 0 kills at once.
func (c *component) stop(grace time.Duration) error {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited: // gone already: its process group may be someone else's
		c.mu.Lock()
		if c.cmd == cmd {
			c.cmd, c.exited = nil, nil
		}
		c.mu.Unlock()
		return nil
	default:
	}
	pgid := -cmd.Process.Pid
	if grace > 0 {
		syscall.Kill(pgid, syscall.SIGCONT)
		syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(grace):
		}
	}
	syscall.Kill(pgid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", c.name, cmd.Process.Pid)
	}
	c.mu.Lock()
	c.cmd, c.exited = nil, nil
	c.mu.Unlock()
	return nil
}

// waitReady polls probe until it succeeds, the process exits, or timeout.
func (c *component) waitReady(timeout time.Duration, probe func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if !c.running() {
			return fmt.Errorf("%s exited during start-up; last lines of %s:\n%s", c.name, c.logPath, tail(c.logPath, 15))
		}
		if last = probe(); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %v; last lines of %s:\n%s", c.name, timeout, last, c.logPath, tail(c.logPath, 15))
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var errAddressInUse = errors.New("address already in use")

func (c *component) failedOnBind() bool {
	return strings.Contains(tail(c.logPath, 30), errAddressInUse.Error())
}
