package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"logship/client"
)

// A write sent to a client site is refused with a 503 that names the
// master's HTTP address; the client follows it, and reads its write back
// with the token. (Two fake sites stand in for a group here.)
func Example() {
	var data string
	master := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			b, _ := io.ReadAll(r.Body)
			data = string(b)
			fmt.Fprint(w, `{"lsn":"1/28","gen":1,"token":"1:1/28:9f3a","permanent":true}`)
		case http.MethodGet:
			fmt.Fprint(w, data)
		}
	}))
	defer master.Close()
	replica := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"error":"not the master; the master is site 1","master":1,"master_http":%q}`, strings.TrimPrefix(master.URL, "http://"))
	}))
	defer replica.Close()

	c, err := client.New(client.Config{Sites: []string{replica.URL}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	res, err := c.Put(ctx, "orders", "42", []byte("shipped"))
	if err != nil {
		panic(err)
	}
	v, err := c.GetAfter(ctx, "orders", "42", res.Token)
	fmt.Println(res.LSN, res.Permanent, string(v), err)
	// Output: 1/28 true shipped <nil>
}
