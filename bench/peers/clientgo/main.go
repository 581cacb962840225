// The client-go peer for bench/run.sh: k8s.io/client-go/tools/leaderelection
// on a Lease, measured the same way as leaselocker_bench measures ours.
//
//	clientgo handoff  -kubeconfig F -lease NAME -n N   graceful handoffs (ReleaseOnCancel), one JSON line
//	clientgo acquire  -kubeconfig F -lease NAME -n N   uncontended acquisitions of fresh leases
//	clientgo hold     -kubeconfig F -lease NAME -identity ID   campaign and hold until killed
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
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
)

func clientset() *kubernetes.Clientset {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: *kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "lease"}).ClientConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = 1000, 1000
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
		candidate(context.Background(), cs, *leaseName, *identity, make(chan time.Time, 1))
		return
	default:
		fmt.Fprintln(os.Stderr, "usage: clientgo handoff|acquire|hold [flags]")
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"impl": "client-go", "what": os.Args[1], "samples_ms": samples})
}
