// Command web is the lab's test server: a static HTTP server that reports
// which version of it answers, so that rolling updates can be watched from
// outside. It only uses the standard library, because testimages compiles it
// from an embedded copy of this file in a throw-away module.
//
// Modes (flag -mode, or WEB_MODE from the image config):
//
//	serve      GET / answers one JSON line {"version","hostname","task"};
//	           GET /health answers 200
//	unhealthy  like serve, but GET /health answers 500
//	crash      prints an error and exits 1 at once; with -lines N it first
//	           prints N numbered lines to stdout ("line 1 of N", ...), to
//	           test that a crashed task's last output is kept
//
// With -check URL it is its own healthcheck client: it GETs URL and exits 0
// on a 2xx answer, 1 otherwise.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=v1".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, returning the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("web", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":80", "address to serve on")
	mode := fs.String("mode", envOr("WEB_MODE", "serve"), "serve, unhealthy or crash")
	check := fs.String("check", "", "GET this URL, exit 0 on a 2xx answer (healthcheck client)")
	ignoreTerm := fs.Bool("ignore-term", false, "ignore SIGTERM (to test stop grace periods)")
	lines := fs.Int("lines", 0, "crash mode: print this many numbered lines to stdout first")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *check != "" {
		return runCheck(*check, stdout, stderr)
	}
	switch *mode {
	case "crash":
		for i := 1; i <= *lines; i++ {
			fmt.Fprintf(stdout, "line %d of %d\n", i, *lines)
		}
		fmt.Fprintf(stderr, "web %s: crash mode: exiting with status 1\n", version)
		return 1
	case "serve", "unhealthy":
		return serve(*listen, *mode == "unhealthy", *ignoreTerm, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "web: unknown mode %q (want serve, unhealthy or crash)\n", *mode)
		return 2
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// runCheck is the healthcheck client: exit 0 on 2xx.
func runCheck(url string, stdout, stderr io.Writer) int {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "check %s: %v\n", url, err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "check %s: %s\n", url, resp.Status)
		return 1
	}
	fmt.Fprintf(stdout, "check %s: %s\n", url, resp.Status)
	return 0
}

// answer is the JSON line served on GET /.
type answer struct {
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	Task     string `json:"task"`
}

func handler(unhealthy bool) http.Handler {
	host, _ := os.Hostname()
	body, _ := json.Marshal(answer{Version: version, Hostname: host, Task: os.Getenv("SHOAL_TASK_ID")})
	body = append(body, '\n')
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		if unhealthy {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// serve runs the server until SIGTERM or SIGINT, then shuts down gracefully.
// It installs its own handlers because as PID 1 in a container the kernel
// would otherwise drop SIGTERM.
func serve(addr string, unhealthy, ignoreTerm bool, stdout, stderr io.Writer) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "web %s: %v\n", version, err)
		return 1
	}
	srv := &http.Server{Handler: handler(unhealthy), ReadHeaderTimeout: 10 * time.Second}
	sigs := []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	if ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
		sigs = sigs[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "web %s listening on %s (unhealthy=%t)\n", version, ln.Addr(), unhealthy)
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "web %s: %v\n", version, err)
		return 1
	case <-ctx.Done():
	}
	fmt.Fprintf(stdout, "web %s: shutting down\n", version)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "web %s: shutdown: %v\n", version, err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "web %s: %v\n", version, err)
		return 1
	}
	return 0
}
