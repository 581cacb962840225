// The Go reference peer for bench/run.sh: github.com/swisscom/leaselocker
// v0.4.26 on a Lease, measured the same way as clientgo-bench measures
// client-go and leaselocker_bench measures ours, with the same timings
// (its own defaults are lease 60 s, renew deadline 10 s, retry 2 s; it
// keeps its UseObservedTime false: expiry judged by the holder's renewTime).
//
//	reference-bench handoff  -kubeconfig F -lease NAME -n N   Unlock, the waiter's Lock returns: one sample each
//	reference-bench acquire  -kubeconfig F -lease NAME -n N   fresh leases: from the constructor to Lock returning
//	reference-bench hold     -kubeconfig F -lease NAME -identity ID   Lock and hold until killed; prints "held"
//	reference-bench failover -kubeconfig F -lease NAME -n N   holder SIGKILLed: (takeover - kill) - lease duration
//	reference-bench renew    -kubeconfig F -lease NAME -seconds S   a renewal is GET + PUT: GET sent to PUT answered
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/swisscom/leaselocker"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"leaselocker.local/peers/kube"
)

var (
	kubeconfig = flag.String("kubeconfig", "", "kubeconfig (context lease)")
	leaseName  = flag.String("lease", "bench", "lease name")
	namespace  = flag.String("namespace", "leaselocker-test", "namespace")
	count      = flag.Int("n", 20, "iterations")
	identity   = flag.String("identity", "reference", "identity for hold")
	leaseDur   = flag.Duration("lease-duration", 3*time.Second, "")
	renewDl    = flag.Duration("renew-deadline", 2*time.Second, "")
	retry      = flag.Duration("retry-period", 500*time.Millisecond, "")
	seconds    = flag.Int("seconds", 30, "how long renew holds")
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func locker(cs *kubernetes.Clientset, name, id string) *leaselocker.LeaseLocker {
	ll, err := leaselocker.NewLeaseLockerWithTimings(cs.CoordinationV1(), types.NamespacedName{Namespace: *namespace, Name: name}, id,
		*leaseDur, *renewDl, *retry, 10*time.Second, false)
	if err != nil {
		fail(err)
	}
	return ll
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func main() {
	// The package logs through controller-runtime's logger: to stderr.
	ctrllog.SetLogger(funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{}))
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: reference-bench handoff|acquire|hold|failover|renew [flags]")
		os.Exit(2)
	}
	flag.CommandLine.Parse(os.Args[2:])
	_, cs, wire, err := kube.Connect(*kubeconfig)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	var samples []float64
	switch os.Args[1] {
	case "handoff":
		// Two lockers; each round the holder unlocks and the time until the
		// waiter's Lock returns is one sample.
		ids := []string{"ref-a", "ref-b"}
		holder := locker(cs, *leaseName, ids[0])
		holder.Lock(ctx)
		h := 0
		for n := 0; n < *count; n++ {
			waiter := locker(cs, *leaseName, ids[1-h])
			took := make(chan time.Time, 1)
			go func() { waiter.Lock(ctx); took <- time.Now() }()
			time.Sleep(*retry * 2) // the waiter has seen the lease held
			t0 := time.Now()
			holder.Unlock()
			samples = append(samples, ms((<-took).Sub(t0)))
			holder, h = waiter, 1-h
		}
		holder.Unlock()
	case "acquire":
		for n := 0; n < *count; n++ {
			t0 := time.Now()
			ll := locker(cs, fmt.Sprintf("%s-%d", *leaseName, n), "ref-acquire")
			ll.Lock(ctx)
			samples = append(samples, ms(time.Since(t0)))
			ll.Unlock()
		}
	case "hold":
		ll := locker(cs, *leaseName, *identity)
		ll.Lock(ctx)
		fmt.Println("held")
		select {}
	case "renew":
		ll := locker(cs, *leaseName, "ref-renew")
		ll.Lock(ctx)
		wire.Take() // the acquiring write is not a renewal
		time.Sleep(time.Duration(*seconds) * time.Second)
		for _, w := range wire.Take() {
			samples = append(samples, float64(w.SentMono-w.ReadMono)/1e6+w.LatencyMs)
		}
		ll.Unlock()
	case "failover":
		for n := 0; n < *count; n++ {
			name := fmt.Sprintf("%s-%d", *leaseName, n)
			holder := exec.Command(os.Args[0], "hold", "-kubeconfig", *kubeconfig, "-lease", name, "-identity", "victim",
				"-lease-duration", leaseDur.String(), "-renew-deadline", renewDl.String(), "-retry-period", retry.String())
			out, _ := holder.StdoutPipe()
			if err := holder.Start(); err != nil {
				fail(err)
			}
			bufio.NewReader(out).ReadString('\n') // "held"
			heir := locker(cs, name, "heir")
			took := make(chan time.Time, 1)
			go func() { heir.Lock(ctx); took <- time.Now() }()
			time.Sleep(time.Second)
			killed := time.Now()
			holder.Process.Kill()
			holder.Wait()
			samples = append(samples, ms((<-took).Sub(killed))-ms(*leaseDur))
			heir.Unlock()
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: reference-bench handoff|acquire|hold|failover|renew [flags]")
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"impl": "go-reference", "what": os.Args[1], "samples_ms": samples})
}
