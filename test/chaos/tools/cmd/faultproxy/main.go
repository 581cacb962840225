// faultproxy terminates TLS in front of the kube-apiserver and forwards
// every request to it, except while a storm is on: then it answers as an
// overloaded or failing API server would (429 with Retry-After, or 503).
// toxiproxy, in front of it, does the TCP-level faults.
//
//	faultproxy -listen 127.0.0.1:0 -control 127.0.0.1:0 -upstream https://127.0.0.1:6443 \
//	    -ca ca.crt -cert apiserver.crt -key apiserver.key -ports-file F
//
// The ports it bound are written to F as "<listen> <control>".
// Control: POST /storm?status=429&seconds=3 (or status=503), POST /calm.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

type storm struct {
	mu     sync.Mutex
	status int
	until  time.Time
}

func (s *storm) current() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Now().Before(s.until) {
		return s.status
	}
	return 0
}

func (s *storm) set(status int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.until = status, time.Now().Add(d)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TLS address to serve")
	control := flag.String("control", "127.0.0.1:0", "plain HTTP control address")
	upstream := flag.String("upstream", "", "the API server's URL")
	caFile := flag.String("ca", "", "CA that signed the API server's certificate")
	certFile := flag.String("cert", "", "serving certificate (valid for 127.0.0.1)")
	keyFile := flag.String("key", "", "serving key")
	portsFile := flag.String("ports-file", "", "where to write the bound addresses")
	flag.Parse()

	target, err := url.Parse(*upstream)
	if err != nil || *upstream == "" {
		log.Fatalf("faultproxy: bad -upstream %q", *upstream)
	}
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatalf("faultproxy: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("faultproxy: %v", err)
	}

	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}
	proxy.FlushInterval = -1 // watches stream
	proxy.ErrorLog = log.New(os.Stderr, "faultproxy: ", 0)

	var s storm
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch s.current() {
		case http.StatusTooManyRequests:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","message":"storm","code":429}`)
		case http.StatusServiceUnavailable:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","message":"storm","code":503}`)
		default:
			proxy.ServeHTTP(w, r)
		}
	})

	ln, err := tls.Listen("tcp", *listen, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		log.Fatalf("faultproxy: %v", err)
	}
	cl, err := net.Listen("tcp", *control)
	if err != nil {
		log.Fatalf("faultproxy: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/storm", func(w http.ResponseWriter, r *http.Request) {
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		seconds, _ := strconv.ParseFloat(r.URL.Query().Get("seconds"), 64)
		if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
			http.Error(w, "status must be 429 or 503", http.StatusBadRequest)
			return
		}
		s.set(status, time.Duration(seconds*float64(time.Second)))
	})
	mux.HandleFunc("/calm", func(w http.ResponseWriter, r *http.Request) { s.set(0, 0) })
	go func() { log.Fatal(http.Serve(cl, mux)) }()
	if *portsFile != "" {
		if err := os.WriteFile(*portsFile, []byte(ln.Addr().String()+" "+cl.Addr().String()+"\n"), 0o644); err != nil {
			log.Fatalf("faultproxy: %v", err)
		}
	}
	log.Fatal(http.Serve(ln, handler))
}
