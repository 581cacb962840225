// The client-go peer for bench/run.sh: k8s.io/client-go/tools/leaderelection
// on a Lease, measured the same way as leaselocker_bench measures ours.
//
//	clientgo handoff  -kubeconfig F -lease NAME -n N   graceful handoffs (ReleaseOnCancel), one JSON line
//	clientgo acquire  -kubeconfig F -lease NAME -n N   uncontended acquisitions of fresh leases
//	clientgo hold     -kubeconfig F -lease NAME -identity ID   campaign and hold until killed; prints "held"
//	clientgo failover -kubeconfig F -lease NAME -n N   holder process SIGKILLed, a waiter takes over;
//	                                                   samples are (takeover - kill) - lease duration
//	clientgo renew    -kubeconfig F -lease NAME -seconds S   hold for S s; samples are the renewals' PUT latencies
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

var (
	kubeconfig = flag.String("kubeconfig", "", "kubeconfig (context lease)")
	leaseName  = flag.String("lease", "bench", "lease name")
	namespace  = flag.String("namespace", "leaselocker-test", "namespace")
	count      = flag.Int("n", 20, "iterations")
	identity   = flag.String("identity", "clientgo", "identity for hold")
	leaseDur   = flag.Duration("lease-duration", 3*time.Second, "")
	renewDl    = flag.Duration("renew-deadline", 2*time.Second, "")
	retry      = flag.Duration("retry-period", 500*time.Millisecond, "")
	seconds    = flag.Int("seconds", 30, "how long renew holds")
)

// putTimer records the latency of every PUT (a renewal) the client sends.
type putTimer struct {
	next http.RoundTripper
	mu   sync.Mutex
	ms   []float64
}

func (t *putTimer) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	if r.Method == http.MethodPut {
		t.mu.Lock()
		t.ms = append(t.ms, float64(time.Since(start).Microseconds())/1000)
		t.mu.Unlock()
	}
	return resp, err
}

var timer = &putTimer{}

func clientset() *kubernetes.Clientset {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: *kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "lease"}).ClientConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { timer.next = rt; return timer }
	return kubernetes.NewForConfigOrDie(cfg)
}

// candidate runs one elector; started is signalled with the time it became leader.
func candidate(ctx context.Context, cs *kubernetes.Clientset, name, id string, started chan<- time.Time) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: name, Namespace: *namespace},
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true,
		LeaseDuration: *leaseDur, RenewDeadline: *renewDl, RetryPeriod: *retry,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { started <- time.Now() },
			OnStoppedLeading: func() {},
		},
	})
}

func main() {
	flag.CommandLine.Parse(os.Args[2:])
	cs := clientset()
	var samples []float64
	switch os.Args[1] {
	case "handoff":
		// Two candidates; each round the leader is cancelled (it releases)
		// and the time until the other leads is one sample.
		started := make(chan time.Time, 4)
		ids := []string{"cg-a", "cg-b"}
		cancels := make([]context.CancelFunc, 2)
		dones := make([]chan struct{}, 2)
		run := func(i int) {
			ctx, cancel := context.WithCancel(context.Background())
			cancels[i], dones[i] = cancel, make(chan struct{})
			go func(done chan struct{}) { candidate(ctx, cs, *leaseName, ids[i], started); close(done) }(dones[i])
		}
		run(0)
		<-started
		leader := 0
		run(1)
		time.Sleep(*retry * 2) // the waiter has seen the lease
		for n := 0; n < *count; n++ {
			t0 := time.Now()
			cancels[leader]()
			t1 := <-started
			samples = append(samples, float64(t1.Sub(t0).Microseconds())/1000)
			<-dones[leader]
			run(leader) // the old leader waits now
			leader = 1 - leader
			time.Sleep(*retry * 2)
		}
		cancels[leader]()
		<-dones[leader]
		cancels[1-leader]()
	case "acquire":
		for n := 0; n < *count; n++ {
			started := make(chan time.Time, 1)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			t0 := time.Now()
			go func() { candidate(ctx, cs, fmt.Sprintf("%s-%d", *leaseName, n), "cg-acquire", started); close(done) }()
			t1 := <-started
			samples = append(samples, float64(t1.Sub(t0).Microseconds())/1000)
			cancel()
			<-done
		}
	case "hold":
		started := make(chan time.Time, 1)
		go func() { <-started; fmt.Println("held") }()
		candidate(context.Background(), cs, *leaseName, *identity, started)
		return
	case "renew":
		started := make(chan time.Time, 1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { candidate(ctx, cs, *leaseName, "cg-renew", started); close(done) }()
		<-started
		timer.mu.Lock()
		timer.ms = nil // the acquiring write is not a renewal
		timer.mu.Unlock()
		time.Sleep(time.Duration(*seconds) * time.Second)
		timer.mu.Lock()
		samples = append(samples, timer.ms...)
		timer.mu.Unlock()
		cancel()
		<-done
	case "failover":
		for n := 0; n < *count; n++ {
			name := fmt.Sprintf("%s-%d", *leaseName, n)
			holder := exec.Command(os.Args[0], "hold", "-kubeconfig", *kubeconfig, "-lease", name, "-identity", "victim")
			out, _ := holder.StdoutPipe()
			if err := holder.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			bufio.NewReader(out).ReadString('\n') // "held"
			started := make(chan time.Time, 1)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { candidate(ctx, cs, name, "heir", started); close(done) }()
			time.Sleep(time.Second)
			killed := time.Now()
			holder.Process.Kill()
			holder.Wait()
			took := <-started
			samples = append(samples, float64(took.Sub(killed).Microseconds())/1000-float64(leaseDur.Milliseconds()))
			cancel()
			<-done
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: clientgo handoff|acquire|hold [flags]")
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"impl": "client-go", "what": os.Args[1], "samples_ms": samples})
}
