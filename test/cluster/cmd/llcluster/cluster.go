package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// cluster is a running etcd + kube-apiserver pair under one directory:
//
//	pki/          credentials (see pki.go)
//	etcd-data/    etcd's data, kept across restarts of either process
//	logs/         one log per process
//	kubeconfig, kubeconfig-inline, cluster.env, state.json
type cluster struct {
	dir      string
	bin      string
	pki      pki
	etcdPort int
	peerPort int
	apiPort  int
	api2Port int
	etcd     *component
	api      *component
	// api2: a second kube-apiserver on the same etcd, started on demand,
	// without coordinated leader election (whose Lease informer hides
	// kubernetes/kubernetes#130887).
	api2  *component
	admin *http.Client
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err, "finding a free port")
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (c *cluster) server() string { return "https://127.0.0.1:" + strconv.Itoa(c.apiPort) }

func (c *cluster) server2() string {
	if !c.api2.running() {
		return ""
	}
	return "https://127.0.0.1:" + strconv.Itoa(c.api2Port)
}

func newCluster(dir, bin string) *cluster {
	c := &cluster{dir: dir, bin: bin}
	for _, d := range []string{"logs", "etcd-data"} {
		check(os.MkdirAll(filepath.Join(dir, d), 0o700), "creating "+d)
	}
	c.pki = makePKI(filepath.Join(dir, "pki"))
	pkiFile := func(name string) string { return filepath.Join(c.pki.dir, name) }

	c.etcd = &component{name: "etcd", binary: filepath.Join(bin, "etcd"), logPath: filepath.Join(dir, "logs", "etcd.log"),
		args: func() []string {
			client := "http://127.0.0.1:" + strconv.Itoa(c.etcdPort)
			peer := "http://127.0.0.1:" + strconv.Itoa(c.peerPort)
			return []string{
				"--name=leaselocker-test", "--data-dir=" + filepath.Join(dir, "etcd-data"),
				"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
				"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
				"--initial-cluster=leaselocker-test=" + peer,
				"--unsafe-no-fsync", "--log-level=warn",
			}
		}}
	apiArgs := func(port int, certDir string, coordinated bool) []string {
		args := []string{
			"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(c.etcdPort),
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(port),
			"--cert-dir=" + filepath.Join(dir, "pki", certDir),
			"--tls-cert-file=" + pkiFile("apiserver.crt"), "--tls-private-key-file=" + pkiFile("apiserver.key"),
			"--client-ca-file=" + pkiFile("ca.crt"),
			"--token-auth-file=" + pkiFile("tokens.csv"),
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file=" + pkiFile("sa.pub"),
			"--service-account-signing-key-file=" + pkiFile("sa.key"),
			"--service-cluster-ip-range=10.0.0.0/24",
			"--authorization-mode=RBAC",
			"--disable-admission-plugins=ServiceAccount",
			"--endpoint-reconciler-type=none",
			"--v=1",
		}
		if coordinated {
			// Coordinated leader election (KEP-4355, beta, off by
			// default): the server's election controller and the
			// LeaseCandidate API, for the tests of candidates.
			args = append(args, "--feature-gates=CoordinatedLeaderElection=true", "--runtime-config=coordination.k8s.io/v1beta1=true")
		}
		return args
	}
	c.api = &component{name: "kube-apiserver", binary: filepath.Join(bin, "kube-apiserver"), logPath: filepath.Join(dir, "logs", "kube-apiserver.log"),
		args: func() []string { return apiArgs(c.apiPort, "generated", true) }}
	c.api2 = &component{name: "kube-apiserver-2", binary: filepath.Join(bin, "kube-apiserver"), logPath: filepath.Join(dir, "logs", "kube-apiserver-2.log"),
		args: func() []string { return apiArgs(c.api2Port, "generated2", false) }}

	cert, err := tls.LoadX509KeyPair(pkiFile("admin.crt"), pkiFile("admin.key"))
	check(err, "loading the admin certificate")
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(pkiFile("ca.crt"))
	check(err, "reading the CA")
	pool.AppendCertsFromPEM(caPEM)
	c.admin = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}
	return c
}

// startEtcd starts etcd on fresh ports, retrying if a port was taken
// between choosing and binding it.
func (c *cluster) startEtcd() error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if c.etcdPort == 0 || attempt > 0 {
			c.etcdPort, c.peerPort = freePort(), freePort()
		}
		if err = c.etcd.start(); err != nil {
			return err
		}
		err = c.etcd.waitReady(30*time.Second, c.etcdHealthy)
		if err == nil || !c.etcd.failedOnBind() {
			return err
		}
		c.etcd.stop(0)
	}
	return err
}

func (c *cluster) etcdHealthy() error {
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(c.etcdPort) + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var health struct{ Health string }
	if json.NewDecoder(resp.Body).Decode(&health); health.Health != "true" {
		return fmt.Errorf("etcd /health: %s", resp.Status)
	}
	return nil
}

// startAPIServer starts kube-apiserver; on a restart it keeps its port so
// clients reconnect to the same address.
func (c *cluster) startAPIServer(keepPort bool) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if !keepPort || c.apiPort == 0 || attempt > 0 {
			c.apiPort = freePort()
		}
		if err = c.api.start(); err != nil {
			return err
		}
		err = c.api.waitReady(90*time.Second, c.apiReady)
		if err == nil || !c.api.failedOnBind() {
			return err
		}
		c.api.stop(0)
	}
	return err
}

// startAPIServer2 starts the second kube-apiserver on a fresh port; if it
// does not become ready, it is stopped again. Both servers renew the same
// identity Lease in kube-system (their ID hashes the host name): harmless
// here, nothing reads it.
func (c *cluster) startAPIServer2() error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		c.api2Port = freePort()
		if err = c.api2.start(); err != nil {
			return err
		}
		err = c.api2.waitReady(90*time.Second, func() error { return c.apiReadyAt("https://127.0.0.1:" + strconv.Itoa(c.api2Port)) })
		if err == nil {
			return nil
		}
		bind := c.api2.failedOnBind()
		c.api2.stop(0)
		if !bind {
			return err
		}
	}
	return err
}

// apiReady asks as the admin: anonymous probes can get 403 while RBAC
// bootstraps, and /readyz alone can pass before the default namespace exists.
func (c *cluster) apiReady() error { return c.apiReadyAt(c.server()) }

func (c *cluster) apiReadyAt(server string) error {
	for _, path := range []string{"/readyz", "/api/v1/namespaces/default"} {
		if status, body, err := c.requestAt(server, "GET", path, nil); err != nil {
			return err
		} else if status != http.StatusOK {
			return fmt.Errorf("GET %s: %d %s", path, status, body)
		}
	}
	return nil
}

func (c *cluster) request(method, path string, body any) (int, string, error) {
	return c.requestAt(c.server(), method, path, body)
}

func (c *cluster) requestAt(server, method, path string, body any) (int, string, error) {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, server+path, reader)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.admin.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// create POSTs an object, accepting 409 so a restart can bootstrap again.
func (c *cluster) create(path string, obj map[string]any) error {
	status, body, err := c.request("POST", path, obj)
	if err != nil {
		return err
	}
	if status != http.StatusCreated && status != http.StatusConflict {
		return fmt.Errorf("POST %s: %d %s", path, status, body)
	}
	return nil
}

// bootstrap creates the test namespace and the least-privilege identity's
// Role and RoleBinding: leases get/create/update/watch, leasecandidates
// the same and delete, events create, in the test namespace only.
func (c *cluster) bootstrap() error {
	meta := func(name string) map[string]any { return map[string]any{"name": name} }
	rbac := "/apis/rbac.authorization.k8s.io/v1/namespaces/" + testNamespace
	steps := []struct {
		path string
		obj  map[string]any
	}{
		{"/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": meta(testNamespace)}},
		{rbac + "/roles", map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta("lease-locker"),
			"rules": []map[string]any{
				{"apiGroups": []string{"coordination.k8s.io"}, "resources": []string{"leases"}, "verbs": []string{"get", "create", "update", "watch"}},
				{"apiGroups": []string{"coordination.k8s.io"}, "resources": []string{"leasecandidates"}, "verbs": []string{"get", "create", "update", "watch", "delete"}},
				{"apiGroups": []string{"", "events.k8s.io"}, "resources": []string{"events"}, "verbs": []string{"create"}},
			}}},
		{rbac + "/rolebindings", map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta("lease-locker"),
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "lease-locker"},
			"subjects": []map[string]any{{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": leaseUser}}}},
		// A user without the watch verb: lockers must fall back to polling.
		{rbac + "/roles", map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta("lease-no-watch"),
			"rules": []map[string]any{
				{"apiGroups": []string{"coordination.k8s.io"}, "resources": []string{"leases"}, "verbs": []string{"get", "create", "update"}},
			}}},
		{rbac + "/rolebindings", map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta("lease-no-watch"),
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "lease-no-watch"},
			"subjects": []map[string]any{{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": noWatchUser}}}},
	}
	for _, s := range steps {
		if err := c.create(s.path, s.obj); err != nil {
			return err
		}
	}
	return nil
}

type state struct {
	SupervisorPID int    `json:"supervisor_pid"`
	Server        string `json:"server"`
	EtcdURL       string `json:"etcd_url"`
	EtcdPID       int    `json:"etcd_pid"`
	APIServerPID  int    `json:"apiserver_pid"`
	Server2       string `json:"server2,omitempty"` // the second kube-apiserver, while it runs
	APIServer2PID int    `json:"apiserver2_pid,omitempty"`
	Namespace     string `json:"namespace"`
	LeaseUser     string `json:"lease_user"`
	Kubeconfig    string `json:"kubeconfig"`
	KubeconfigInl string `json:"kubeconfig_inline"`
}

func (c *cluster) writeState() {
	s := state{
		SupervisorPID: os.Getpid(), Server: c.server(),
		EtcdURL: "http://127.0.0.1:" + strconv.Itoa(c.etcdPort), EtcdPID: c.etcd.pid(), APIServerPID: c.api.pid(),
		Server2: c.server2(), APIServer2PID: c.api2.pid(),
		Namespace: testNamespace, LeaseUser: leaseUser,
		Kubeconfig: filepath.Join(c.dir, "kubeconfig"), KubeconfigInl: filepath.Join(c.dir, "kubeconfig-inline"),
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	writeFile(filepath.Join(c.dir, "state.json"), b)
	writeFile(filepath.Join(c.dir, "cluster.env"), []byte(fmt.Sprintf(
		"LEASELOCKER_TEST_SERVER=%s\nLEASELOCKER_TEST_KUBECONFIG=%s\nLEASELOCKER_TEST_KUBECONFIG_INLINE=%s\nLEASELOCKER_TEST_NAMESPACE=%s\n",
		s.Server, s.Kubeconfig, s.KubeconfigInl, s.Namespace)))
}

// shutdown stops the apiserver before etcd, so it does not spend its grace
// period retrying a vanished store.
func (c *cluster) shutdown() {
	second := make(chan struct{})
	go func() { c.api2.stop(15 * time.Second); close(second) }()
	c.api.stop(15 * time.Second)
	<-second
	c.etcd.stop(10 * time.Second)
}
