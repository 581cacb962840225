package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// keyPair is a certificate with its private key, kept in memory to sign
// further certificates and written out as PEM files.
type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func newKey() *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err, "generating a key")
	return key
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	check(err, "generating a serial number")
	return n
}

// newCA makes a self-signed certificate authority.
func newCA(name string) keyPair {
	key := newKey()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	check(err, "creating CA certificate")
	cert, err := x509.ParseCertificate(der)
	check(err, "parsing CA certificate")
	return keyPair{cert, key, der}
}

// certSpec describes a leaf certificate signed by a CA.
type certSpec struct {
	commonName string
	orgs       []string
	dnsNames   []string
	ips        []net.IP
	client     bool
	notBefore  time.Time
	notAfter   time.Time
}

func (ca keyPair) issue(spec certSpec) keyPair {
	key := newKey()
	if spec.notBefore.IsZero() {
		spec.notBefore = time.Now().Add(-time.Hour)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	usage := x509.ExtKeyUsageServerAuth
	if spec.client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: spec.commonName, Organization: spec.orgs},
		NotBefore:    spec.notBefore,
		NotAfter:     spec.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     spec.dnsNames,
		IPAddresses:  spec.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	check(err, "issuing certificate "+spec.commonName)
	cert, err := x509.ParseCertificate(der)
	check(err, "parsing certificate "+spec.commonName)
	return keyPair{cert, key, der}
}

func (kp keyPair) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.der})
}

func keyPEM(key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(key)
	check(err, "encoding a key")
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func publicKeyPEM(key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	check(err, "encoding a public key")
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// write stores the pair as NAME.crt and NAME.key in dir.
func (kp keyPair) write(dir, name string) {
	writeFile(filepath.Join(dir, name+".crt"), kp.certPEM())
	writeFile(filepath.Join(dir, name+".key"), keyPEM(kp.key))
}

// writeFile replaces path at once (a reader never sees half a file).
func writeFile(path string, data []byte) {
	check(os.WriteFile(path+".tmp", data, 0o600), "writing "+path)
	check(os.Rename(path+".tmp", path), "writing "+path)
}

func randomToken() string {
	b := make([]byte, 24)
	_, err := rand.Read(b)
	check(err, "generating a token")
	return hex.EncodeToString(b)
}

var loopbackIPs = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}

// pki is every credential the test cluster uses. Besides what the cluster
// needs it makes material for negative TLS tests: a CA that signed nothing
// the server presents, and server certificates with a wrong name or expired.
type pki struct {
	dir          string
	adminToken   string
	leaseToken   string
	noWatchToken string
}

func makePKI(dir string) pki {
	check(os.MkdirAll(dir, 0o700), "creating "+dir)
	ca := newCA("leaselocker-test-ca")
	writeFile(filepath.Join(dir, "ca.crt"), ca.certPEM())
	writeFile(filepath.Join(dir, "ca.key"), keyPEM(ca.key))

	ca.issue(certSpec{commonName: "kube-apiserver", dnsNames: []string{"localhost", "kubernetes", "kubernetes.default.svc"}, ips: loopbackIPs}).write(dir, "apiserver")
	ca.issue(certSpec{commonName: "admin", orgs: []string{"system:masters"}, client: true}).write(dir, "admin")

	// Material for negative TLS tests; the cluster never uses it.
	other := newCA("leaselocker-other-ca")
	writeFile(filepath.Join(dir, "other-ca.crt"), other.certPEM())
	ca.issue(certSpec{commonName: "wrong-name", dnsNames: []string{"wrong.example"}}).write(dir, "wrong-san")
	ca.issue(certSpec{commonName: "expired", dnsNames: []string{"localhost"}, ips: loopbackIPs,
		notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-24 * time.Hour)}).write(dir, "expired")

	sa := newKey()
	writeFile(filepath.Join(dir, "sa.key"), keyPEM(sa))
	writeFile(filepath.Join(dir, "sa.pub"), publicKeyPEM(sa))

	p := pki{dir: dir, adminToken: randomToken(), leaseToken: randomToken(), noWatchToken: randomToken()}
	writeFile(filepath.Join(dir, "tokens.csv"), []byte(
		p.adminToken+",admin-token,admin-token-uid,\"system:masters\"\n"+
			p.leaseToken+","+leaseUser+",lease-user-uid\n"+
			p.noWatchToken+","+noWatchUser+",lease-no-watch-uid\n"))
	writeFile(filepath.Join(dir, "lease.token"), []byte(p.leaseToken+"\n"))
	return p
}
