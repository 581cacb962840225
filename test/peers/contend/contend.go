// Package contend is the chaos suite's contender loop for the Go peers: the
// same turns, fenced writes, signals and event lines as the C++ contender
// (test/chaos/contender.cpp), around any implementation that can lock,
// say whether it still leads, and unlock.
package contend

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"leaselocker.local/peers/history"
	"leaselocker.local/peers/kube"
)

// Locker is one turn of an implementation.
type Locker interface {
	// Lock blocks until the lease is held; an error if ctx ended first.
	Lock(ctx context.Context) error
	// Leading is what a user of the implementation checks before acting
	// on the lock: the implementation's own signal, whatever it is.
	Leading() bool
	// Unlock lets go; the result for the history ("released", ...).
	Unlock() string
}

// Settings are the contender's flags, as the C++ contender's.
type Settings struct {
	Kubeconfig, Lease, ID, Events, Store string
	LeaseDuration, RenewDeadline, Retry  time.Duration
	Writes                               int
	Work, Rest                           time.Duration
	LongHoldPercent                      int
	Seconds                              int
}

// Flags parses the contender's command line ("contend" already taken).
func Flags(args []string) Settings {
	fs := flag.NewFlagSet("contend", flag.ExitOnError)
	var s Settings
	var leaseMs, renewMs, retryMs, workMs, restMs int
	var clockRate float64
	fs.StringVar(&s.Kubeconfig, "kubeconfig", "", "")
	fs.StringVar(&s.Lease, "lease", "", "")
	fs.StringVar(&s.ID, "id", "", "")
	fs.StringVar(&s.Events, "events", "", "")
	fs.StringVar(&s.Store, "store", "", "")
	fs.IntVar(&leaseMs, "lease-ms", 2000, "")
	fs.IntVar(&renewMs, "renew-ms", 1500, "")
	fs.IntVar(&retryMs, "retry-ms", 250, "")
	fs.IntVar(&s.Writes, "writes", 2, "")
	fs.IntVar(&workMs, "work-ms", 20, "")
	fs.IntVar(&restMs, "rest-ms", 20, "pause after a release, at most")
	fs.IntVar(&s.LongHoldPercent, "long-hold-percent", 2, "")
	fs.IntVar(&s.Seconds, "seconds", 600, "")
	fs.Float64Var(&clockRate, "clock-rate", 1, "only 1: a Go peer runs on the real clock")
	fs.Parse(args)
	if clockRate != 1 {
		fmt.Fprintln(os.Stderr, "contend: a Go peer cannot run on a skewed clock (--clock-rate must be 1)")
		os.Exit(2)
	}
	s.LeaseDuration = time.Duration(leaseMs) * time.Millisecond
	s.RenewDeadline = time.Duration(renewMs) * time.Millisecond
	s.Retry = time.Duration(retryMs) * time.Millisecond
	s.Work = time.Duration(workMs) * time.Millisecond
	s.Rest = time.Duration(restMs) * time.Millisecond
	return s
}

// Run takes turns on the lease with a fresh Locker from newLocker (on the
// process's one clientset, whose requests the wire tap sees) each turn
// until SIGTERM/SIGINT or the time is up. impl names the implementation in
// the history. SIGUSR1 arms a stop between a check and its write; SIGUSR2
// asks for a long hold (see contender.cpp).
func Run(s Settings, impl string, newLocker func(*kubernetes.Clientset, Settings) (Locker, error)) {
	log, err := history.Open(s.Events, s.ID)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_, cs, wire, err := kube.Connect(s.Kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// A waiter's reads are its sign of life (it polls; nothing else shows).
	var waiting sync.Mutex
	isWaiting := false
	wire.OnRead = func() {
		waiting.Lock()
		w := isWaiting
		waiting.Unlock()
		if w {
			log.Event("poll", nil)
		}
	}
	setWaiting := func(w bool) { waiting.Lock(); isWaiting = w; waiting.Unlock() }
	// Every write of the lease free, whoever held it: client-go's release
	// decides on a stale record and can free a lease another holds.
	// And the end of every lease it writes as holder, as the answer comes
	// (a renewal answered after the last check still counts).
	wire.OnWrite = func(w kube.Write) {
		if w.Holder == "" {
			log.EventAt(w.SentMono, "freed", map[string]any{"seq": w.Transitions, "epoch": w.UID})
		} else if w.Holder == s.ID {
			log.Event("lease", map[string]any{"seq": w.Transitions, "epoch": w.UID, "lease_end": w.LeaseEndMono})
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.Seconds)*time.Second)
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	var mu sync.Mutex
	var armedUntil, holdAskedUntil time.Time
	go func() {
		for sig := range sigs {
			mu.Lock()
			switch sig {
			case syscall.SIGUSR1:
				armedUntil = time.Now().Add(6 * time.Second)
			case syscall.SIGUSR2:
				holdAskedUntil = time.Now().Add(6 * time.Second)
			default:
				cancel()
			}
			mu.Unlock()
		}
	}()
	armed := func() bool { mu.Lock(); defer mu.Unlock(); return time.Now().Before(armedUntil) }
	holdAsked := func() bool {
		mu.Lock()
		defer mu.Unlock()
		asked := time.Now().Before(holdAskedUntil)
		holdAskedUntil = time.Time{}
		return asked
	}

	log.Event("start", map[string]any{"identity": s.ID, "clock_rate": 1, "impl": impl})
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	// The end of the lease this process last wrote for the grant `seq`: a
	// write with another leaseTransitions is another grant (client-go's
	// renew loop takes a lease anew after a takeover, without a word to
	// its user), not a renewal of this one.
	var grantEnd int64
	grantSeq := int64(-1)
	leaseEnd := func(seq int64) int64 {
		if grantSeq != seq {
			grantEnd, grantSeq = 0, seq
		}
		// The latest end of its writes (answers can complete out of order).
		if w := wire.Last(); w.Holder == s.ID && w.Transitions == seq && w.LeaseEndMono > grantEnd {
			grantEnd = w.LeaseEndMono
		}
		return grantEnd
	}
	for ctx.Err() == nil {
		l, err := newLocker(cs, s)
		if err != nil {
			log.Event("acquire_failed", map[string]any{"why": err.Error(), "permanent": false})
			time.Sleep(100 * time.Millisecond)
			continue
		}
		setWaiting(true)
		err = l.Lock(ctx)
		setWaiting(false)
		if err != nil {
			if ctx.Err() == nil {
				log.Event("acquire_failed", map[string]any{"why": err.Error(), "permanent": false})
				time.Sleep(100 * time.Millisecond)
				continue
			}
			l.Unlock() // the reference starts renewing even then
			break
		}
		// The token is the version the acquiring write made: seen on the wire.
		w := wire.Last()
		tok := history.Token{Epoch: w.UID, Seq: w.Transitions}
		if w.Holder != s.ID {
			log.Event("acquire_failed", map[string]any{"why": "the last write on the wire was not a grant to " + s.ID, "permanent": false})
			l.Unlock()
			continue
		}
		now := history.Mono()
		log.EventAt(now, "acquire_ok", map[string]any{"seq": tok.Seq, "epoch": tok.Epoch, "valid_until": now, "lease_end": leaseEnd(tok.Seq),
			"granted_at": w.SentMono})
		write := func() {
			ok, at, err := history.WriteStore(s.Store, tok)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			log.EventAt(at, "write", map[string]any{"seq": tok.Seq, "epoch": tok.Epoch, "accepted": ok})
		}
		if l.Leading() {
			write() // fence the store in at once
		}
		rounds := s.Writes
		if rng.Intn(100) < s.LongHoldPercent {
			rounds = int((300 + rng.Intn(700)) / int(max(s.Work.Milliseconds(), 1)))
		}
		armedRounds := int(2 * s.LeaseDuration / max(s.Work, time.Millisecond))
		var holdUntil time.Time
		grantedEnd := leaseEnd(tok.Seq)
		for i := 0; (i < rounds || (armed() && i < armedRounds) || time.Now().Before(holdUntil)) && ctx.Err() == nil; i++ {
			if holdAsked() {
				holdUntil = time.Now().Add(2 * s.LeaseDuration)
				log.Event("holding", map[string]any{"seq": tok.Seq})
			}
			// Ask, work, write: the claim lasts as long as the
			// implementation says it leads, to this check.
			checked := history.Mono()
			if !l.Leading() {
				log.Event("lost", map[string]any{"seq": tok.Seq, "why": "the implementation no longer leads"})
				break
			}
			end := leaseEnd(tok.Seq)
			log.EventAt(checked, "check", map[string]any{"seq": tok.Seq, "valid_until": checked, "lease_end": end})
			if armed() && end > grantedEnd { // renewed since the grant
				mu.Lock()
				armedUntil = time.Time{}
				mu.Unlock()
				log.Event("stopping", map[string]any{"seq": tok.Seq})
				syscall.Kill(os.Getpid(), syscall.SIGSTOP) // until the orchestrator continues us
			}
			time.Sleep(s.Work)
			write()
		}
		log.Event("unlocking", map[string]any{"seq": tok.Seq})
		wire.Take()
		said := l.Unlock()
		// Released only if it wrote the lease free (the reference says
		// "true" also when someone else holds it).
		result := "not released (" + said + ")"
		for _, w := range wire.Take() {
			if w.Holder == "" && w.Transitions == tok.Seq {
				result = "released"
			}
		}
		log.Event("release", map[string]any{"seq": tok.Seq, "result": result})
		time.Sleep(time.Duration(rng.Int63n(int64(s.Rest) + 1)))
	}
	log.Event("exit", nil)
}
