package api

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestNewClientAddresses: every address a user may type is either used
// (with the API's default port when none is given, said in errors) or
// refused with an *AddressError that says what to write instead.
func TestNewClientAddresses(t *testing.T) {
	tlsConf := &tls.Config{}
	tests := []struct {
		host, wantBase, wantErr string
	}{
		{"", "http://agent", ""},
		{"/run/x.sock", "http://agent", ""},
		{"tcp://10.0.0.1:7948", "https://10.0.0.1:7948", ""},
		{"tcp://10.0.0.1", "https://10.0.0.1:7948", ""},
		{"https://h.example/", "https://h.example:7948", ""},
		{"tcp://[fd00::1]", "https://[fd00::1]:7948", ""},
		{"10.0.0.1:7948", "", "write tcp://10.0.0.1:7948"},
		{"tcp://h:port", "", `port "port" is not a number`},
		{"tcp://h:99999", "", `port "99999" is not a number from 1 to 65535`},
		{"tcp://:7948", "", "no host before the port"},
		{"tcp://", "", "expected tcp://HOST:PORT"},
		{"tcp://fd00::1", "", "needs brackets"},
		{"ftp://h", "", `unknown scheme "ftp"`},
		{"unix://", "", "no socket path"},
	}
	for _, tt := range tests {
		c, err := NewClient(tt.host, tlsConf)
		if tt.wantErr != "" {
			var ae *AddressError
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewClient(%q) = %v, want an AddressError containing %q", tt.host, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewClient(%q): %v", tt.host, err)
		} else if c.base != tt.wantBase {
			t.Errorf("NewClient(%q) = base %q; want %q", tt.host, c.base, tt.wantBase)
		}
	}
	c, _ := NewClient("tcp://10.0.0.1", tlsConf)
	if !strings.Contains(c.Host(), "port 7948, the API's default") {
		t.Errorf("Host() = %q: does not say that the default port applied", c.Host())
	}
	if _, err := NewClient("tcp://10.0.0.1:7948", nil); err == nil || !strings.Contains(err.Error(), "--tlscacert") {
		t.Errorf("tcp without TLS: %v", err)
	}
}

// TestWrongServer points a TLS client at things that are not the API: a
// plain HTTP server (a registry) and a listener that closes every
// connection (what gossip and raft do with an HTTPS request).
func TestWrongServer(t *testing.T) {
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	closer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	go serveConns(closer, func(net.Conn) {})
	for _, addr := range []string{plain.Listener.Addr().String(), closer.Addr().String()} {
		c, err := NewClient("tcp://"+addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Do(context.Background(), http.MethodGet, "/v1/info", nil, nil)
		var ws *WrongServerError
		if !errors.As(err, &ws) {
			t.Fatalf("%s: %v (%T), want a WrongServerError", addr, err, err)
		}
		if !strings.Contains(err.Error(), "not the API's default port 7948") || strings.Contains(err.Error(), `Get "https://`) {
			t.Errorf("%s: %q does not name the API port, or repeats Go's URL error", addr, err)
		}
	}
}

func TestWrongServerNamesPorts(t *testing.T) {
	for port, want := range map[int]string{
		DefaultGossipPort: "port 7946 is the agents' gossip port; the API listens on port 7948",
		DefaultRaftPort:   "port 7947 is the agents' raft port; the API listens on port 7948",
		0:                 "containerd's",
		5000:              "port 5000 is not the API's default port 7948",
	} {
		err := &WrongServerError{Addr: "x", Port: port, Err: errors.New("EOF")}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("port %d: %q does not contain %q", port, err, want)
		}
	}
	if portOf("https://10.0.0.1:7947") != 7947 || portOf("10.0.0.1:7946") != 7946 || portOf("/run/x.sock") != 0 {
		t.Error("portOf")
	}
}

// TestWrongServerGRPC: a server answering HTTP/2 frames (containerd's
// gRPC socket) is named as not the API, without its raw bytes.
func TestWrongServerGRPC(t *testing.T) {
	sock := t.TempDir() + "/grpc.sock"
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveConns(ln, func(c net.Conn) {
		// An HTTP/2 SETTINGS frame, as a gRPC server sends first, then
		// (the client's bytes are no HTTP/2 preface) a GOAWAY, and close.
		_, _ = c.Write([]byte("\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x05\x00\x00@\x00"))
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = c.Read(make([]byte, 64))
		_, _ = c.Write([]byte("\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"))
	})
	c, err := NewClient("unix://"+sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Do(context.Background(), http.MethodGet, "/v1/info", nil, nil)
	var ws *WrongServerError
	if !errors.As(err, &ws) || !strings.Contains(err.Error(), "containerd") || strings.Contains(err.Error(), `\x00`) {
		t.Errorf("gRPC socket: %v", err)
	}
}

// serveConns runs fn on every connection ln accepts, then closes it,
// until ln is closed.
func serveConns(ln net.Listener, fn func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fn(c)
		c.Close()
	}
}
