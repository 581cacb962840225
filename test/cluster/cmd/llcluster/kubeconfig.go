package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	testNamespace = "leaselocker-test"
	leaseUser     = "lease-user"
	noWatchUser   = "lease-no-watch"
)

// writeKubeconfigs writes the same contexts twice: once referring to the
// PKI files by path (relative to the kubeconfig's folder, as kubectl
// resolves them) and once with every credential inline (*-data).
//
// Contexts: admin (client certificate, system:masters), lease (the
// least-privilege user's token), lease-tokenfile (the same user through
// tokenFile, for rotation tests), lease-no-watch (may not watch leases).
// kubeconfig-lease is the by-path file with lease as its current context.
func writeKubeconfigs(dir, server string, p pki) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(p.dir, name))
		check(err, "reading "+name)
		return base64.StdEncoding.EncodeToString(b)
	}
	rel := func(name string) string {
		r, err := filepath.Rel(dir, filepath.Join(p.dir, name))
		check(err, "relative path")
		return r
	}

	var byPath, inline strings.Builder
	header := func(b *strings.Builder, caField string) {
		fmt.Fprintf(b, `apiVersion: v1
kind: Config
current-context: admin
clusters:
- name: local
  cluster:
    server: %s
    %s
contexts:
- name: admin
  context: {cluster: local, user: admin, namespace: %s}
- name: lease
  context: {cluster: local, user: %s, namespace: %s}
- name: lease-tokenfile
  context: {cluster: local, user: %s-tokenfile, namespace: %s}
- name: lease-no-watch
  context: {cluster: local, user: %s, namespace: %s}
users:
- name: %s
  user:
    token: %s
`, server, caField, testNamespace, leaseUser, testNamespace, leaseUser, testNamespace, noWatchUser, testNamespace, noWatchUser, p.noWatchToken)
	}
	header(&byPath, "certificate-authority: "+rel("ca.crt"))
	fmt.Fprintf(&byPath, `- name: admin
  user:
    client-certificate: %s
    client-key: %s
- name: %s
  user:
    token: %s
- name: %s-tokenfile
  user:
    tokenFile: %s
`, rel("admin.crt"), rel("admin.key"), leaseUser, p.leaseToken, leaseUser, rel("lease.token"))

	header(&inline, "certificate-authority-data: "+read("ca.crt"))
	fmt.Fprintf(&inline, `- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
- name: %s
  user:
    token: %s
- name: %s-tokenfile
  user:
    tokenFile: %s
`, read("admin.crt"), read("admin.key"), leaseUser, p.leaseToken, leaseUser, filepath.Join(p.dir, "lease.token"))

	writeFile(filepath.Join(dir, "kubeconfig"), []byte(byPath.String()))
	writeFile(filepath.Join(dir, "kubeconfig-inline"), []byte(inline.String()))
	// The same, current context the least-privilege user: for programs that
	// take the default context (the examples).
	writeFile(filepath.Join(dir, "kubeconfig-lease"),
		[]byte(strings.Replace(byPath.String(), "current-context: admin", "current-context: lease", 1)))
}
