package tlsprobe

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/pythorix/pythorix/services/scanning/finding"
)

// expiringSoon is how close to NotAfter a certificate draws TLSCertExpiringSoon.
const expiringSoon = 14 * 24 * time.Hour

// CertInfo summarises one certificate of the chain the server presented.
type CertInfo struct {
	Subject            string // subject common name, or the full DN when it has none
	SANs               []string
	Issuer             string // issuer common name, or the full DN when it has none
	NotBefore          time.Time
	NotAfter           time.Time
	KeyType            string // "RSA", "ECDSA", "Ed25519" or the Go type
	KeyBits            int
	SignatureAlgorithm string
}

func certInfo(c *x509.Certificate) CertInfo {
	ci := CertInfo{
		Subject:            name(c.Subject.CommonName, c.Subject.String()),
		Issuer:             name(c.Issuer.CommonName, c.Issuer.String()),
		NotBefore:          c.NotBefore,
		NotAfter:           c.NotAfter,
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		SANs:               append([]string(nil), c.DNSNames...),
	}
	for _, ip := range c.IPAddresses {
		ci.SANs = append(ci.SANs, ip.String())
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		ci.KeyType, ci.KeyBits = "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		ci.KeyType, ci.KeyBits = "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		ci.KeyType, ci.KeyBits = "Ed25519", 256
	default:
		ci.KeyType = fmt.Sprintf("%T", k)
	}
	return ci
}

func name(cn, dn string) string {
	if cn != "" {
		return cn
	}
	return dn
}

// evidence is the compact text summary stored with a certificate finding.
func (c CertInfo) evidence() string {
	return fmt.Sprintf("subject=%s; issuer=%s; notBefore=%s; notAfter=%s; sans=%s; key=%s-%d; sig=%s",
		c.Subject, c.Issuer, c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339),
		strings.Join(c.SANs, ","), c.KeyType, c.KeyBits, c.SignatureAlgorithm)
}

func weakKey(c CertInfo) bool {
	return c.KeyType == "RSA" && c.KeyBits < 2048 || c.KeyType == "ECDSA" && c.KeyBits < 256
}

func weakSignature(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

// selfSigned reports whether c looks like a root: issuer equals subject and
// its own key verifies its signature.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// checkChain fills the certificate fields of r from the presented chain and
// appends the certificate findings. Expiry, name and trust are judged
// independently: trust is verified at a time inside the leaf's validity
// window, so an expired but properly issued certificate reads trusted+expired.
func checkChain(r *Report, certs []*x509.Certificate, host, loc string, o Options) {
	leaf := certs[0]
	for _, c := range certs {
		r.Chain = append(r.Chain, certInfo(c))
	}
	li := r.Chain[0]
	r.NotAfter = leaf.NotAfter
	add := func(id, detail string) {
		r.Findings = append(r.Findings, finding.Finding{CheckID: id, Location: loc, Subject: li.Subject, Detail: detail, Evidence: li.evidence()})
	}

	now := o.Now()
	at := now
	switch {
	case now.After(leaf.NotAfter):
		r.Expired, at = true, leaf.NotAfter.Add(-time.Second)
		add(finding.TLSCertExpired, "The certificate expired on "+leaf.NotAfter.UTC().Format(time.DateOnly)+".")
	case now.Before(leaf.NotBefore):
		r.Expired, at = true, leaf.NotBefore.Add(time.Second)
		add(finding.TLSCertExpired, "The certificate is not valid before "+leaf.NotBefore.UTC().Format(time.DateOnly)+".")
	case leaf.NotAfter.Sub(now) < expiringSoon:
		add(finding.TLSCertExpiringSoon, fmt.Sprintf("The certificate expires in %d days.", int(leaf.NotAfter.Sub(now).Hours()/24)))
	}

	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: o.RootCAs, Intermediates: inter, CurrentTime: at})
	r.Trusted = err == nil
	if !r.Trusted {
		add(finding.TLSCertUntrusted, "The certificate chain does not verify to a trusted root: "+err.Error()+".")
	}
	if err := leaf.VerifyHostname(host); err != nil {
		r.NameMismatch = true
		add(finding.TLSCertNameMismatch, "The certificate is not valid for "+host+".")
	}

	for i, c := range certs {
		if i > 0 && selfSigned(c) {
			continue // a root's own key and signature are not checked by clients
		}
		ci := r.Chain[i]
		if weakKey(ci) {
			r.Findings = append(r.Findings, finding.Finding{CheckID: finding.TLSCertWeakKey, Location: loc, Subject: ci.Subject,
				Detail: fmt.Sprintf("The certificate has a weak %d-bit %s key.", ci.KeyBits, ci.KeyType), Evidence: ci.evidence()})
		}
		if weakSignature(c.SignatureAlgorithm) {
			r.Findings = append(r.Findings, finding.Finding{CheckID: finding.TLSCertWeakSignature, Location: loc, Subject: ci.Subject,
				Detail: "The certificate is signed with " + ci.SignatureAlgorithm + ".", Evidence: ci.evidence()})
		}
	}
}
