// The chaos suite's client-go contender: k8s.io/client-go/tools/leaderelection
// taking turns on the shared Lease (test/chaos/run_chaos.py, mixed profile).
// A turn is one LeaderElector run with ReleaseOnCancel; the holder acts
// while the context OnStartedLeading gave it is live, as client-go's users
// do.
//
//	clientgo-contender contend --kubeconfig K --lease L --id ID --events F --store S [...]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"leaselocker.local/peers/contend"
)

const namespace = "leaselocker-test"

type elector struct {
	cs      *kubernetes.Clientset
	s       contend.Settings
	cancel  context.CancelFunc
	done    chan struct{}
	leading context.Context
}

func (e *elector) Lock(ctx context.Context) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: e.s.Lease, Namespace: namespace},
		Client:     e.cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.s.ID},
	}
	started := make(chan context.Context, 1)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true,
		LeaseDuration: e.s.LeaseDuration, RenewDeadline: e.s.RenewDeadline, RetryPeriod: e.s.Retry,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(c context.Context) { started <- c },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return err
	}
	// Not derived from ctx: once leading, only Unlock ends the run (a
	// SIGTERM ends the turn through the contender loop, which logs
	// "unlocking" first).
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() { le.Run(runCtx); close(e.done) }()
	select {
	case e.leading = <-started:
		return nil
	case <-e.done:
		return errors.New("the elector stopped before it led")
	case <-ctx.Done():
		cancel()
		<-e.done
		return ctx.Err()
	}
}

func (e *elector) Leading() bool { return e.leading != nil && e.leading.Err() == nil }

func (e *elector) Unlock() string {
	if e.cancel == nil {
		return "never ran"
	}
	e.cancel()
	<-e.done // Run releases (ReleaseOnCancel) before it returns
	return "run returned"
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "contend" {
		fmt.Fprintln(os.Stderr, "usage: clientgo-contender contend --kubeconfig K --lease L --id ID --events F --store S [...]")
		os.Exit(2)
	}
	contend.Run(contend.Flags(os.Args[2:]), "client-go", func(cs *kubernetes.Clientset, s contend.Settings) (contend.Locker, error) {
		return &elector{cs: cs, s: s}, nil
	})
}
