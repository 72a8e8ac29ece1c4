package main

// --token: a bearer token sent with every request, for sites started
// with --auth-tokens (docs/security.md). A write token suffices for a
// load; --resync archives, which needs admin.

import (
	"net/http"
)

// benchToken is --token (default $LOGSHIP_TOKEN).
var benchToken string

// withToken adds the token to every request rt carries, if one is set.
func withToken(rt http.RoundTripper) http.RoundTripper {
	if benchToken == "" {
		return rt
	}
	return tokenRT{rt}
}

type tokenRT struct{ next http.RoundTripper }

func (t tokenRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context()) // a RoundTripper must not change the caller's request
	r.Header.Set("Authorization", "Bearer "+benchToken)
	return t.next.RoundTrip(r)
}
