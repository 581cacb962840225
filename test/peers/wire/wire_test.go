package wire

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Leases leaselocker wrote, captured from the real API server
// (test/peers/capture_wire.sh).
func ours(t *testing.T, form string) *coordinationv1.Lease {
	dir := os.Getenv("LEASELOCKER_TEST_DATA")
	if dir == "" {
		dir = "../../data"
	}
	raw, err := os.ReadFile(filepath.Join(dir, "wire", "leaselocker-"+form+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var l coordinationv1.Lease
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatalf("client-go's Lease type cannot read leaselocker's %s Lease: %v", form, err)
	}
	return &l
}

// elect runs client-go's elector against a fake API server that holds
// `lease`; it returns when the elector leads (or after `within`).
func elect(t *testing.T, lease *coordinationv1.Lease, within time.Duration) (led bool, after time.Duration, record *resourcelock.LeaderElectionRecord) {
	cs := fake.NewSimpleClientset(lease)
	lock := &resourcelock.LeaseLock{LeaseMeta: metav1.ObjectMeta{Name: lease.Name, Namespace: lease.Namespace}, Client: cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: "client-go"}}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	started := make(chan time.Time, 1)
	t0 := time.Now()
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond,
		Callbacks: leaderelection.LeaderCallbacks{OnStartedLeading: func(context.Context) { started <- time.Now() }, OnStoppedLeading: func() {}},
	})
	if err != nil {
		t.Fatal(err)
	}
	go le.Run(ctx)
	select {
	case at := <-started:
		rec, _, err := lock.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return true, at.Sub(t0), rec
	case <-ctx.Done():
		return false, within, nil
	}
}

func TestClientGoReadsEveryFieldLeaselockerWrites(t *testing.T) {
	for _, form := range []string{"held", "released", "taken-over"} {
		s := ours(t, form).Spec
		if s.HolderIdentity == nil || s.LeaseDurationSeconds == nil || s.AcquireTime == nil || s.RenewTime == nil || s.LeaseTransitions == nil {
			t.Errorf("%s: a field client-go reads is missing: %+v", form, s)
			continue
		}
		rec := resourcelock.LeaseSpecToLeaderElectionRecord(&s)
		if rec.RenewTime.Time.Before(rec.AcquireTime.Time) {
			t.Errorf("%s: renewTime %v before acquireTime %v", form, rec.RenewTime, rec.AcquireTime)
		}
		if s.RenewTime.Time.Nanosecond()%1000 != 0 || s.RenewTime.Time.Nanosecond() == 0 {
			t.Errorf("%s: renewTime %v is not a MicroTime with microseconds", form, s.RenewTime)
		}
	}
	held, released, taken := ours(t, "held").Spec, ours(t, "released").Spec, ours(t, "taken-over").Spec
	if *held.HolderIdentity != "ll-a" || *held.LeaseTransitions != 0 || *held.LeaseDurationSeconds != 3 {
		t.Errorf("held: %q transitions %d duration %d", *held.HolderIdentity, *held.LeaseTransitions, *held.LeaseDurationSeconds)
	}
	// client-go's release form: holder "", duration 1, transitions kept.
	if *released.HolderIdentity != "" || *released.LeaseDurationSeconds != 1 || *released.LeaseTransitions != 0 {
		t.Errorf("released: %q transitions %d duration %d", *released.HolderIdentity, *released.LeaseTransitions, *released.LeaseDurationSeconds)
	}
	if *taken.HolderIdentity != "ll-b" || *taken.LeaseTransitions != 1 {
		t.Errorf("taken over: %q transitions %d", *taken.HolderIdentity, *taken.LeaseTransitions)
	}
}

func TestClientGoTakesALeaseLeaselockerReleasedAtOnce(t *testing.T) {
	led, after, rec := elect(t, ours(t, "released"), 5*time.Second)
	if !led {
		t.Fatal("client-go never took a Lease leaselocker had released")
	}
	if after > time.Second {
		t.Errorf("client-go took %v to take a released Lease: it must see it free at once", after)
	}
	if rec.LeaderTransitions != 1 || rec.HolderIdentity != "client-go" {
		t.Errorf("after the takeover: holder %q transitions %d, want client-go 1", rec.HolderIdentity, rec.LeaderTransitions)
	}
}

func TestClientGoWaitsOutALeaseLeaselockerHolds(t *testing.T) {
	// client-go judges expiry by its own clock from when it first saw the
	// record, for the record's leaseDurationSeconds (3 s): it must wait that
	// long, then take it.
	led, after, rec := elect(t, ours(t, "held"), 6*time.Second)
	if !led {
		t.Fatal("client-go never took over a Lease whose holder had stopped renewing")
	}
	if after < 3*time.Second {
		t.Errorf("client-go took a Lease leaselocker held after %v, before its lease duration", after)
	}
	if rec.LeaderTransitions != 1 {
		t.Errorf("after the takeover: transitions %d, want 1", rec.LeaderTransitions)
	}
}

// client-go compares the record to the whole second (LeaderElectionRecord
// holds metav1.Time): a renewal in the same second as the write before it
// does not restart its clock, one in a new second does. This is why
// leaselocker's validity counts from the last write client-go could tell
// apart (core::election::accepted).
func TestClientGoSeesRenewalsOnlyToTheSecond(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shift time.Duration // added to renewTime by a renewal 1 s after client-go first saw the lease
		min   time.Duration // client-go takes over no sooner
		max   time.Duration // and no later
	}{
		// The record's leaseDurationSeconds is 3: from first sight (same
		// second: the renewal unseen), or from the renewal 1 s later.
		{"same second", 1 * time.Microsecond, 2900 * time.Millisecond, 3800 * time.Millisecond},
		{"next second", 1 * time.Second, 3900 * time.Millisecond, 5500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lease := ours(t, "held")
			// A renewTime early in its second, so that +1 µs stays in it.
			renew := lease.Spec.RenewTime.Time.Truncate(time.Second).Add(100 * time.Millisecond)
			lease.Spec.RenewTime.Time = renew
			cs := fake.NewSimpleClientset(lease)
			lock := &resourcelock.LeaseLock{LeaseMeta: metav1.ObjectMeta{Name: lease.Name, Namespace: lease.Namespace}, Client: cs.CoordinationV1(),
				LockConfig: resourcelock.ResourceLockConfig{Identity: "client-go"}}
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			started := make(chan time.Time, 1)
			le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
				Lock: lock, LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond,
				Callbacks: leaderelection.LeaderCallbacks{OnStartedLeading: func(context.Context) { started <- time.Now() }, OnStoppedLeading: func() {}},
			})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			go le.Run(ctx)
			time.Sleep(time.Second)
			renewed := lease.DeepCopy()
			renewed.Spec.RenewTime = &metav1.MicroTime{Time: renew.Add(tc.shift)}
			if _, err := cs.CoordinationV1().Leases(lease.Namespace).Update(context.Background(), renewed, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			select {
			case at := <-started:
				if took := at.Sub(t0); took < tc.min || took > tc.max {
					t.Errorf("client-go took over after %v, want %v to %v", took, tc.min, tc.max)
				}
			case <-ctx.Done():
				t.Fatal("client-go never took over")
			}
		})
	}
}
