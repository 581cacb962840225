// llcluster starts, controls and stops a local Kubernetes control plane
// (etcd + kube-apiserver on 127.0.0.1, TLS, RBAC) for leaselocker's tests,
// examples and benchmarks.
//
//	llcluster start   --dir D [--owner-pid P]   start (replacing one already in D) and wait until ready
//	llcluster stop    --dir D                   stop and wait until every process has exited
//	llcluster status  --dir D                   print state.json; exit 1 if not running
//	llcluster run     --dir D -- CMD ARGS...    start, run CMD with cluster.env in its environment, stop
//	llcluster apiserver|etcd stop|start|restart|kill|pause|resume --dir D
//	llcluster apiserver2 start|stop|kill --dir D
//
// apiserver2 is a second kube-apiserver on the same etcd, started on
// demand, without coordinated leader election (whose Lease informer hides
// kubernetes/kubernetes#130887); state.json names it as "server2" while it
// runs.
//
// start runs a supervisor in the background that owns both processes. They
// die with it (Pdeathsig), and it tears them down when the owner process
// (--owner-pid, e.g. ctest) disappears, so a crashed test run leaves no
// orphans.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func check(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "llcluster: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "llcluster: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: llcluster start|stop|status|run|supervise|apiserver|etcd ... (see the source's header)")
	}
	verb, args := os.Args[1], os.Args[2:]
	switch verb {
	case "start":
		fs, dir, bin := flags(verb)
		owner := fs.Int("owner-pid", 0, "tear down when this process exits (0: only on stop)")
		fs.Parse(args)
		check(start(*dir, *bin, *owner), "start")
	case "stop":
		fs, dir, _ := flags(verb)
		fs.Parse(args)
		check(stop(*dir), "stop")
	case "status":
		fs, dir, _ := flags(verb)
		fs.Parse(args)
		s, err := readState(*dir)
		if err != nil || !alive(s.SupervisorPID) {
			fmt.Println("not running")
			os.Exit(1)
		}
		b, _ := json.MarshalIndent(s, "", "  ")
		fmt.Println(string(b))
	case "run":
		fs, dir, bin := flags(verb)
		fs.Parse(args)
		if fs.NArg() == 0 {
			fail("run: no command given")
		}
		os.Exit(run(*dir, *bin, fs.Args()))
	case "supervise":
		fs, dir, bin := flags(verb)
		owner := fs.Int("owner-pid", 0, "")
		fs.Parse(args)
		supervise(*dir, *bin, *owner)
	case "apiserver", "etcd", "apiserver2":
		if len(args) == 0 && verb == "apiserver2" {
			fail("%s: which action? start|stop|kill", verb)
		} else if len(args) == 0 {
			fail("%s: which action? stop|start|restart|kill|pause|resume", verb)
		}
		fs, dir, _ := flags(verb)
		fs.Parse(args[1:])
		check(control(*dir, verb, args[0]), verb+" "+args[0])
	default:
		fail("unknown verb %q", verb)
	}
}

func flags(verb string) (*flag.FlagSet, *string, *string) {
	fs := flag.NewFlagSet(verb, flag.ExitOnError)
	self, _ := os.Executable()
	dir := fs.String("dir", "", "cluster directory (required)")
	bin := fs.String("bin", filepath.Dir(self), "directory holding etcd and kube-apiserver")
	return fs, dir, bin
}

func mustDir(dir string) string {
	if dir == "" {
		fail("--dir is required")
	}
	abs, err := filepath.Abs(dir)
	check(err, "resolving --dir")
	return abs
}

func readState(dir string) (state, error) {
	var s state
	b, err := os.ReadFile(filepath.Join(mustDir(dir), "state.json"))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

func start(dir, bin string, owner int) error {
	dir = mustDir(dir)
	began := time.Now()
	if err := stop(dir); err != nil {
		return err
	}
	// A fresh directory each time: old etcd data or credentials must not leak
	// between runs.
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return err
	}
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return fmt.Errorf("%s not found in %s (build it with test/cluster/build.sh)", b, bin)
		}
	}
	self, _ := os.Executable()
	logPath := filepath.Join(dir, "logs", "supervisor.log")
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(self, "supervise", "--dir", dir, "--bin", bin, "--owner-pid", strconv.Itoa(owner))
	cmd.Stdout, cmd.Stderr, cmd.Dir = log, log, dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	fmt.Fprintf(os.Stderr, "llcluster: starting etcd and kube-apiserver in %s ...\n", dir)
	deadline := time.After(150 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("the supervisor exited during start-up; %s says:\n%s", logPath, tail(logPath, 30))
		case <-deadline:
			syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
			return fmt.Errorf("not ready after 150 s; %s says:\n%s", logPath, tail(logPath, 30))
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			s, _ := readState(dir)
			fmt.Fprintf(os.Stderr, "llcluster: ready in %.1f s at %s (kubeconfig %s)\n", time.Since(began).Seconds(), s.Server, s.Kubeconfig)
			return nil
		}
	}
}

func stop(dir string) error {
	s, err := readState(dir)
	if err != nil || !alive(s.SupervisorPID) {
		return nil
	}
	syscall.Kill(s.SupervisorPID, syscall.SIGTERM)
	for deadline := time.Now().Add(40 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !alive(s.SupervisorPID) && !alive(s.APIServerPID) && !alive(s.APIServer2PID) && !alive(s.EtcdPID) {
			return nil
		}
	}
	for _, pid := range []int{s.SupervisorPID, s.APIServerPID, s.APIServer2PID, s.EtcdPID} {
		if pid > 0 { // kill(0) would hit our own process group
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return fmt.Errorf("cluster in %s did not stop within 40 s; killed", dir)
}

func run(dir, bin string, command []string) int {
	dir = mustDir(dir)
	check(start(dir, bin, os.Getpid()), "start")
	defer stop(dir)
	env, err := os.ReadFile(filepath.Join(dir, "cluster.env"))
	check(err, "reading cluster.env")
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "LEASELOCKER_CLUSTER_DIR="+dir)
	cmd.Env = append(cmd.Env, strings.Split(strings.TrimSpace(string(env)), "\n")...)
	// Forward Ctrl-C and TERM to the command; the deferred stop still runs.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "llcluster: %v\n", err)
		return 127
	}
	go func() {
		for sig := range sigs {
			cmd.Process.Signal(sig)
		}
	}()
	err = cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr):
		if code := exitErr.ExitCode(); code >= 0 {
			return code
		}
		return 128 + int(exitErr.Sys().(syscall.WaitStatus).Signal())
	default:
		return 1
	}
}

func socketPath(dir string) string { return filepath.Join(dir, "control.sock") }

// control asks the supervisor to act on one component.
func control(dir, which, action string) error {
	dir = mustDir(dir)
	client := &http.Client{Timeout: 330 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socketPath(dir))
		}}}
	resp, err := client.Post("http://supervisor/"+which+"/"+action, "text/plain", nil)
	if err != nil {
		return fmt.Errorf("no cluster running in %s? %w", dir, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(strings.TrimSpace(string(body)))
	}
	return nil
}

// supervise runs in the background (started by start): it owns etcd and
// kube-apiserver, serves control requests, and tears down on SIGTERM or
// when the owner process is gone.
func supervise(dir, bin string, owner int) {
	c := newCluster(dir, bin)
	failStart := func(err error) {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		c.shutdown()
		os.Exit(1)
	}
	began := time.Now()
	if err := c.startEtcd(); err != nil {
		failStart(err)
	}
	fmt.Printf("etcd ready at 127.0.0.1:%d after %.1f s\n", c.etcdPort, time.Since(began).Seconds())
	if err := c.startAPIServer(false); err != nil {
		failStart(err)
	}
	fmt.Printf("kube-apiserver ready at %s after %.1f s\n", c.server(), time.Since(began).Seconds())
	if err := c.bootstrap(); err != nil {
		failStart(err)
	}
	writeKubeconfigs(dir, c.server(), c.pki)
	c.writeState()

	listener, err := net.Listen("unix", socketPath(dir))
	if err != nil {
		failStart(err)
	}
	var acting sync.Mutex // one action at a time: ports and state.json stay consistent
	go http.Serve(listener, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) != 2 {
			http.Error(w, "want /COMPONENT/ACTION", http.StatusNotFound)
			return
		}
		acting.Lock()
		defer acting.Unlock()
		if r.Context().Err() != nil { // its client gave up while it waited
			return
		}
		err := c.act(parts[0], parts[1])
		c.writeState() // what runs now, whatever happened
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	writeFile(filepath.Join(dir, "ready"), nil)
	fmt.Printf("cluster ready after %.1f s\n", time.Since(began).Seconds())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	ownerGone := time.NewTicker(500 * time.Millisecond)
	for {
		select {
		case sig := <-sigs:
			fmt.Printf("%s: shutting down\n", sig)
			c.shutdown()
			os.Exit(0)
		case <-ownerGone.C:
			if owner > 0 && !alive(owner) {
				fmt.Printf("owner process %d is gone: shutting down\n", owner)
				c.shutdown()
				os.Exit(0)
			}
		}
	}
}

// act applies a fault or recovery action to one component. A stopped
// apiserver comes back on its old port; etcd keeps its data directory.
func (c *cluster) act(which, action string) error {
	comp, restartFn := c.api, func() error { return c.startAPIServer(true) }
	switch which {
	case "etcd":
		comp, restartFn = c.etcd, c.restartEtcd
	case "apiserver2":
		comp, restartFn = c.api2, c.startAPIServer2
		if action != "start" && action != "stop" && action != "kill" {
			return fmt.Errorf("apiserver2: only start, stop and kill")
		}
	case "apiserver":
	default:
		return fmt.Errorf("unknown component %q", which)
	}
	fmt.Printf("%s: %s %s\n", time.Now().Format(time.RFC3339Nano), which, action)
	switch action {
	case "stop":
		return comp.stop(15 * time.Second)
	case "kill":
		return comp.stop(0)
	case "start":
		if comp.running() {
			return fmt.Errorf("%s is already running", which)
		}
		return restartFn()
	case "restart":
		if err := comp.stop(15 * time.Second); err != nil {
			return err
		}
		return restartFn()
	case "pause":
		return comp.signal(syscall.SIGSTOP)
	case "resume":
		return comp.signal(syscall.SIGCONT)
	}
	return fmt.Errorf("unknown action %q", action)
}

// restartEtcd brings etcd back on the same ports, so the apiserver's
// configured --etcd-servers stays right.
func (c *cluster) restartEtcd() error {
	if err := c.etcd.start(); err != nil {
		return err
	}
	return c.etcd.waitReady(30*time.Second, c.etcdHealthy)
}
