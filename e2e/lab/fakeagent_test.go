package lab

// A fake agent and agentctl, for testing the lab's agent orchestration
// before the real agent exists. The test binary copies itself to
// DIR/agent and DIR/agentctl; TestMain dispatches on the name. The fake
// honours the command-line contract of package doc (run/init/join-token/
// join, info, node ls --format json) and really talks over the lab network:
// a joining agent dials n1's gossip port, and n1 reports a member down when
// its gossip port does not answer.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case "agent":
		os.Exit(fakeAgent(os.Args[1:]))
	case "agentctl":
		os.Exit(fakeAgentctl(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeCluster is the fake agent's data dir content.
type fakeCluster struct {
	Token   string
	Peer    string            // leader's gossip address; "" on the leader
	Members map[string]string // leader only: name -> address
}

type fakeServer struct {
	name, addr, file string
	mu               sync.Mutex
	c                fakeCluster
}

func (s *fakeServer) save() error {
	b, _ := json.Marshal(s.c)
	return os.WriteFile(s.file, b, 0o600)
}

func fakeAgent(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "fake agent: no command")
		return 2
	}
	fs := flag.NewFlagSet("agent "+args[0], flag.ContinueOnError)
	name, data, adv, bind := fs.String("name", "", ""), fs.String("data-dir", "", ""), fs.String("advertise", "", ""), fs.String("bind", "", "")
	sock, ctrd := fs.String("api-socket", "", ""), fs.String("containerd", "", "")
	var regs registries
	fs.Var(&regs, "insecure-registry", "")
	quiet, token := fs.Bool("q", false, ""), fs.String("token", "", "")
	_ = fs.String("dns-upstream", "", "")
	_ = fs.String("docker-socket", "", "")
	_ = fs.String("docker-tcp", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	api := unixClient(*sock)
	var err error
	switch args[0] {
	case "run":
		if *name == "" || *data == "" || *adv == "" || *bind != *adv || *sock == "" || *ctrd == "" || !slices.Equal(regs, []string{RegistryAddr(), PrivateRegistryAddr()}) {
			fmt.Fprintln(os.Stderr, "fake agent run: missing or inconsistent flags:", args)
			return 2
		}
		err = fakeRun(*name, *adv, *data, *sock)
	case "init":
		_, err = call(api, http.MethodPost, "/init", nil)
	case "join-token":
		var out string
		if out, err = call(api, http.MethodGet, "/token", nil); err == nil && *quiet {
			fmt.Println(out)
		}
	case "join":
		_, err = call(api, http.MethodPost, "/join", map[string]string{"token": *token, "peer": fs.Arg(0)})
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake agent:", err)
		return 1
	}
	return 0
}

func fakeRun(name, addr, data, sock string) error {
	s := &fakeServer{name: name, addr: addr, file: filepath.Join(data, "cluster.json")}
	if b, err := os.ReadFile(s.file); err == nil {
		_ = json.Unmarshal(b, &s.c)
	}
	gossip, err := net.Listen("tcp", fmt.Sprintf("%s:%d", addr, GossipPort))
	if err != nil {
		return err
	}
	_ = os.Remove(sock)
	apiL, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: s.mux()}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = srv.Serve(apiL) }()
	go func() { defer wg.Done(); s.serveGossip(gossip) }()
	go func() { defer wg.Done(); s.rejoin(ctx) }()
	<-ctx.Done()
	_ = srv.Close()
	_ = gossip.Close()
	wg.Wait()
	fmt.Println("fake agent: terminated")
	return nil
}

// rejoin re-registers a restarted member with its leader, as the real agent
// rejoins from its data dir.
func (s *fakeServer) rejoin(ctx context.Context) {
	for ctx.Err() == nil {
		s.mu.Lock()
		c := s.c
		s.mu.Unlock()
		if c.Peer == "" || s.register(c.Peer, c.Token) == nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *fakeServer) register(peer, token string) error {
	conn, err := net.DialTimeout("tcp", peer, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(conn, "JOIN %s %s %s\n", token, s.name, s.addr)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "OK\n" {
		return fmt.Errorf("join %s refused: %q %v", peer, line, err)
	}
	return nil
}

func (s *fakeServer) serveGossip(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		f := strings.Fields(readLine(conn))
		s.mu.Lock()
		if len(f) == 4 && f[0] == "JOIN" && s.c.Token != "" && f[1] == s.c.Token && s.c.Members != nil {
			s.c.Members[f[2]] = f[3]
			_ = s.save()
			fmt.Fprint(conn, "OK\n")
		}
		s.mu.Unlock()
		conn.Close()
	}
}

func readLine(r io.Reader) string {
	line, _ := bufio.NewReader(r).ReadString('\n')
	return line
}

func (s *fakeServer) mux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /info", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, s.name) })
	m.HandleFunc("POST /init", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		s.c = fakeCluster{Token: "FAKE-" + hex.EncodeToString(b), Members: map[string]string{s.name: s.addr}}
		_ = s.save()
	})
	m.HandleFunc("GET /token", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		fmt.Fprint(w, s.c.Token)
	})
	m.HandleFunc("POST /join", func(w http.ResponseWriter, r *http.Request) {
		tok, peer := r.FormValue("token"), r.FormValue("peer")
		if err := s.register(peer, tok); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.c = fakeCluster{Token: tok, Peer: peer}
		_ = s.save()
	})
	m.HandleFunc("GET /nodes", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		members := map[string]string{}
		for k, v := range s.c.Members {
			members[k] = v
		}
		s.mu.Unlock()
		names := make([]string, 0, len(members))
		for n := range members {
			names = append(names, n)
		}
		sort.Strings(names)
		voters := min(len(names), 5)
		if voters%2 == 0 {
			voters--
		}
		for i, n := range names {
			ms := ""
			switch {
			case i == 0:
				ms = "Leader"
			case i < voters:
				ms = "Reachable"
			}
			st := "ready"
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", members[n], GossipPort), 300*time.Millisecond); err != nil {
				st = "down"
			} else {
				c.Close()
			}
			b, _ := json.Marshal(map[string]string{"Hostname": n, "Addr": members[n], "Status": st, "ManagerStatus": ms})
			fmt.Fprintf(w, "%s\n", b)
		}
	})
	return m
}

func unixClient(sock string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
}

func call(c *http.Client, method, path string, form map[string]string) (string, error) {
	vals := make([]string, 0, len(form))
	for k, v := range form {
		vals = append(vals, k+"="+v)
	}
	req, err := http.NewRequest(method, "http://agent"+path, strings.NewReader(strings.Join(vals, "&")))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

func fakeAgentctl(args []string) int {
	host := os.Getenv("SHOAL_HOST")
	if len(args) >= 2 && args[0] == "--host" {
		host, args = args[1], args[2:]
	}
	sock, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		fmt.Fprintln(os.Stderr, "fake agentctl: need --host unix://SOCK or SHOAL_HOST")
		return 2
	}
	path := ""
	switch strings.Join(args, " ") {
	case "info":
		path = "/info"
	case "node ls --format json":
		path = "/nodes"
	default:
		fmt.Fprintln(os.Stderr, "fake agentctl: unsupported", args)
		return 2
	}
	out, err := call(unixClient(sock), http.MethodGet, path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake agentctl:", err)
		return 1
	}
	fmt.Print(out)
	return 0
}

// fakeBin installs the fake agent and agentctl into a temp dir.
func fakeBin(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, n := range []string{"agent", "agentctl"} {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// registries is a repeatable flag.
type registries []string

func (r *registries) String() string     { return strings.Join(*r, ",") }
func (r *registries) Set(v string) error { *r = append(*r, v); return nil }
