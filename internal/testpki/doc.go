// Package testpki makes throwaway certificate authorities and site
// certificates for tests of mutual TLS: the transport's own tests and the
// end-to-end tests of repnode. Keys are P-256, certificates valid for an
// hour either side of now, for 127.0.0.1 and localhost, usable as both TLS
// server and client. Nothing outside tests should import it.
package testpki
