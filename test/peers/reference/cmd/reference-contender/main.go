// The chaos suite's Go-reference contender: github.com/swisscom/leaselocker
// (v0.4.26, with its own defaults except the shared timings) taking turns
// on the shared Lease (test/chaos/run_chaos.py, mixed profile). The holder
// acts while Check(0) — the only validity signal the package offers —
// returns nil.
//
//	reference-contender contend --kubeconfig K --lease L --id ID --events F --store S [...]
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/go-logr/logr/funcr"
	"github.com/swisscom/leaselocker"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"leaselocker.local/peers/contend"
)

type turn struct{ ll *leaselocker.LeaseLocker }

// Lock returns when the package's Lock does: held, or the context ended
// (the package then starts renewing all the same; Unlock stops that).
func (t turn) Lock(ctx context.Context) error {
	t.ll.Lock(ctx)
	return ctx.Err()
}

func (t turn) Leading() bool { return t.ll.Check(0) == nil }

func (t turn) Unlock() string { return fmt.Sprintf("Unlock returned %v", t.ll.Unlock()) }

func main() {
	// The package logs through controller-runtime's logger: to stderr.
	ctrllog.SetLogger(funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{}))
	if len(os.Args) < 2 || os.Args[1] != "contend" {
		fmt.Fprintln(os.Stderr, "usage: reference-contender contend --kubeconfig K --lease L --id ID --events F --store S [...]")
		os.Exit(2)
	}
	contend.Run(contend.Flags(os.Args[2:]), "go-reference", func(cs *kubernetes.Clientset, s contend.Settings) (contend.Locker, error) {
		ll, err := leaselocker.NewLeaseLockerWithTimings(cs.CoordinationV1(), types.NamespacedName{Namespace: "leaselocker-test", Name: s.Lease},
			s.ID, s.LeaseDuration, s.RenewDeadline, s.Retry, 2*s.LeaseDuration, false)
		if err != nil {
			return nil, err
		}
		return turn{ll}, nil
	})
}
