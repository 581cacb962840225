// Package kube connects the Go peers to the API server and watches their
// own Lease writes on the wire: which version each successful write made,
// when it was sent, and until when the Lease it wrote runs — whatever the
// implementation above exposes (the Go reference exposes none of it).
package kube

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"leaselocker.local/peers/history"
)

// Write is one successful create or update of a Lease by this process.
type Write struct {
	SentMono     int64 // CLOCK_MONOTONIC ns when the request was sent
	ReadMono     int64 // when the last read of a Lease before it was sent (a GET + PUT renewal starts there)
	LatencyMs    float64
	UID          string // the Lease's uid: the fencing epoch
	Holder       string
	Transitions  int64 // leaseTransitions written: the fencing sequence
	LeaseEndMono int64 // the end of the lease it wrote, on CLOCK_MONOTONIC (see Rho)
}

// Rho is the bound on clock-rate error between hosts that the chaos suite
// grants every implementation (leaselocker's default): a lease written
// with renewTime r and leaseDurationSeconds d is the writer's, whatever the
// others' clocks, until r + d·(1−Rho)/(1+Rho). A waiter whose clock runs
// Rho fast may take it over from then on.
const Rho = 0.01

// Wire records every successful Lease write this process makes, and
// calls OnRead (if set) for every read of a Lease.
type Wire struct {
	OnRead  func()
	OnWrite func(Write) // every successful write, as it completes
	mu      sync.Mutex
	read    int64
	last    Write
	writes  []Write
}

// tap is one transport's view of the Wire (a clientset may build several).
type tap struct {
	next http.RoundTripper
	wire *Wire
}

type leaseJSON struct {
	Metadata struct {
		UID string `json:"uid"`
	} `json:"metadata"`
	Spec struct {
		HolderIdentity       *string `json:"holderIdentity"`
		LeaseDurationSeconds *int64  `json:"leaseDurationSeconds"`
		RenewTime            *string `json:"renewTime"`
		LeaseTransitions     *int64  `json:"leaseTransitions"`
	} `json:"spec"`
}

func (t tap) RoundTrip(r *http.Request) (*http.Response, error) {
	w := t.wire
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/leases") {
		w.mu.Lock()
		w.read = history.Mono()
		w.mu.Unlock()
		if w.OnRead != nil {
			w.OnRead()
		}
	}
	write := (r.Method == http.MethodPut || r.Method == http.MethodPost) && strings.Contains(r.URL.Path, "/leases")
	sent, sentWall := history.Mono(), time.Now()
	resp, err := t.next.RoundTrip(r)
	if err != nil || !write || resp.StatusCode/100 != 2 {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil
	}
	var l leaseJSON
	if json.Unmarshal(body, &l) != nil {
		return resp, nil
	}
	rec := Write{SentMono: sent, LatencyMs: float64(history.Mono()-sent) / 1e6, UID: l.Metadata.UID, Transitions: -1}
	if l.Spec.HolderIdentity != nil {
		rec.Holder = *l.Spec.HolderIdentity
	}
	if l.Spec.LeaseTransitions != nil {
		rec.Transitions = *l.Spec.LeaseTransitions
	}
	// The lease runs from the later of its renewTime (client-go and the Go
	// reference stamp it before their GET) and the send: waiters that
	// judge by what they observe start no sooner than the write.
	if l.Spec.RenewTime != nil && l.Spec.LeaseDurationSeconds != nil {
		if renew, perr := time.Parse(time.RFC3339Nano, *l.Spec.RenewTime); perr == nil {
			d := time.Duration(float64(time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second) * (1 - Rho) / (1 + Rho))
			rec.LeaseEndMono = sent + max(renew.Sub(sentWall), 0).Nanoseconds() + d.Nanoseconds()
		}
	}
	w.mu.Lock()
	rec.ReadMono = w.read
	w.last = rec
	w.writes = append(w.writes, rec)
	w.mu.Unlock()
	if w.OnWrite != nil {
		w.OnWrite(rec)
	}
	return resp, nil
}

// Last is the newest successful write.
func (w *Wire) Last() Write {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Take returns the writes recorded since the last Take and forgets them.
func (w *Wire) Take() []Write {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.writes
	w.writes = nil
	return out
}

// Connect loads kubeconfig's "lease" context (the test control plane's
// least-privilege user) and returns its config, with JSON on the wire and
// Wire in the transport, and a clientset on it.
func Connect(kubeconfig string) (*rest.Config, *kubernetes.Clientset, *Wire, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "lease"}).ClientConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	cfg.ContentType, cfg.AcceptContentTypes = "application/json", "application/json"
	wire := &Wire{}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return tap{next: rt, wire: wire} }
	cs, err := kubernetes.NewForConfig(cfg)
	return cfg, cs, wire, err
}
