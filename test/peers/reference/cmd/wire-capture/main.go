// Captures Leases as the real API server stores them after client-go's
// leader election, the Go reference package and leaselocker (through
// leaselocker_bench) wrote them: held (after a renewal or two), released,
// and taken over by a second holder. Run by test/peers/capture_wire.sh; the
// files are checked in under test/data/wire/ and read by the wire tests on
// both sides (test/unit/wire_fixtures.cpp, test/peers/wire).
//
//	wire-capture -kubeconfig F -ours PATH/leaselocker_bench -out DIR
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/swisscom/leaselocker"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"leaselocker.local/peers/kube"
)

const namespace = "leaselocker-test"

var (
	kubeconfig = flag.String("kubeconfig", "", "kubeconfig (context lease)")
	ours       = flag.String("ours", "", "leaselocker_bench")
	out        = flag.String("out", "", "folder for the captured Leases")
	cs         *kubernetes.Clientset
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wire-capture:", err)
	os.Exit(1)
}

// capture saves the Lease as the server returns it.
func capture(name, file string) {
	raw, err := cs.CoordinationV1().RESTClient().Get().Namespace(namespace).Resource("leases").Name(name).DoRaw(context.Background())
	if err != nil {
		fail(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, raw, "", "  "); err != nil {
		fail(err)
	}
	pretty.WriteByte('\n')
	if err := os.WriteFile(filepath.Join(*out, file), pretty.Bytes(), 0o644); err != nil {
		fail(err)
	}
	fmt.Println("captured", file)
}

const ld, rd, rp = 3 * time.Second, 2 * time.Second, 500 * time.Millisecond

// elect runs a client-go elector with ReleaseOnCancel; returns once it leads,
// with the function that cancels it and waits for its release.
func elect(name, id string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	started, done := make(chan struct{}), make(chan struct{})
	go func() {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock: &resourcelock.LeaseLock{LeaseMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Client: cs.CoordinationV1(),
				LockConfig: resourcelock.ResourceLockConfig{Identity: id}},
			ReleaseOnCancel: true, LeaseDuration: ld, RenewDeadline: rd, RetryPeriod: rp,
			Callbacks: leaderelection.LeaderCallbacks{OnStartedLeading: func(context.Context) { close(started) }, OnStoppedLeading: func() {}},
		})
		close(done)
	}()
	<-started
	return func() { cancel(); <-done }
}

func reference(name, id string) *leaselocker.LeaseLocker {
	ll, err := leaselocker.NewLeaseLockerWithTimings(cs.CoordinationV1(), types.NamespacedName{Namespace: namespace, Name: name}, id, ld, rd, rp, 10*time.Second, false)
	if err != nil {
		fail(err)
	}
	ll.Lock(context.Background())
	return ll
}

// hold starts `leaselocker_bench hold` and returns once it holds.
func hold(name, id string) *exec.Cmd {
	cmd := exec.Command(*ours, "hold", *kubeconfig, name, id)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "held\n" {
		fail(fmt.Errorf("leaselocker_bench hold %s: %q", name, line))
	}
	return cmd
}

func main() {
	flag.Parse()
	ctrllog.SetLogger(funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{}))
	var err error
	if _, cs, _, err = kube.Connect(*kubeconfig); err != nil {
		fail(err)
	}
	settle := 1200 * time.Millisecond // a renewal or two

	stop := elect("wire-client-go", "cg-a")
	time.Sleep(settle)
	capture("wire-client-go", "client-go-held.json")
	stop()
	capture("wire-client-go", "client-go-released.json")
	stop = elect("wire-client-go", "cg-b")
	capture("wire-client-go", "client-go-taken-over.json")
	stop()

	ll := reference("wire-go-reference", "ref-a")
	time.Sleep(settle)
	capture("wire-go-reference", "go-reference-held.json")
	ll.Unlock()
	capture("wire-go-reference", "go-reference-released.json")
	ll = reference("wire-go-reference", "ref-b")
	capture("wire-go-reference", "go-reference-taken-over.json")
	ll.Unlock()

	// Ours: held, then killed (no release) and taken over after expiry by a
	// second holder; the released form from leaselocker_bench acquire (lock, unlock).
	holder := hold("wire-leaselocker", "ll-a")
	time.Sleep(settle)
	capture("wire-leaselocker", "leaselocker-held.json")
	holder.Process.Kill()
	holder.Wait()
	heir := hold("wire-leaselocker", "ll-b")
	capture("wire-leaselocker", "leaselocker-taken-over.json")
	heir.Process.Kill()
	heir.Wait()
	if b, err := exec.Command(*ours, "acquire", *kubeconfig, "wire-leaselocker-released", "1").CombinedOutput(); err != nil {
		fail(fmt.Errorf("leaselocker_bench acquire: %v: %s", err, b))
	}
	capture("wire-leaselocker-released-0", "leaselocker-released.json")
}
