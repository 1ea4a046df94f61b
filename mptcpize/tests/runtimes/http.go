// An HTTP server and client for mptcpize's runtime tests (tests/runtimes.rs), built there as
// a static Go program (CGO_ENABLED=0) with a recent Go.
//
//	http serve ADDR FILE  serves FILE's bytes at /data, printing "listening" once ready
//	http fetch URL OUT    GETs URL into OUT and prints "fetched N mptcp=BOOL" (BOOL: the
//	                      connection's own answer, TCPConn.MultipathTCP), then keeps the
//	                      connection open until its stdin ends, so that it can be observed
//
// Nothing here asks for MPTCP: whether the sockets are MPTCP is up to GODEBUG.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "http: "+format+"\n", args...)
	os.Exit(1)
}

func serve(addr, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		fail("%v", err)
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fail("listen %s: %v", addr, err)
	}
	fmt.Println("listening")
	http.HandleFunc("/data", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	})
	fail("serve: %v", http.Serve(listener, nil))
}

func fetch(url, out string) {
	var conn net.Conn
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { conn = info.Conn }}
	request, err := http.NewRequest("GET", url, nil)
	if err != nil {
		fail("%v", err)
	}
	request = request.WithContext(httptrace.WithClientTrace(request.Context(), trace))
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		fail("GET %s: %v", url, err)
	}
	body, err := io.ReadAll(response.Body)
	response.Body.Close()
	if err != nil || response.StatusCode != http.StatusOK {
		fail("GET %s: %s, %v", url, response.Status, err)
	}
	if err := os.WriteFile(out, body, 0o644); err != nil {
		fail("%v", err)
	}
	mptcp := false
	if tcp, ok := conn.(*net.TCPConn); ok {
		mptcp, _ = tcp.MultipathTCP()
	}
	fmt.Printf("fetched %d mptcp=%t\n", len(body), mptcp)
	// The connection stays in the client's idle pool until the process exits.
	io.Copy(io.Discard, os.Stdin)
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: http serve ADDR FILE | http fetch URL OUT")
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2], os.Args[3])
	case "fetch":
		fetch(os.Args[2], os.Args[3])
	default:
		fail("unknown command %q", os.Args[1])
	}
}
