package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/shoal-org/shoal/api"
)

// Status is a check's verdict.
type Status string

// The verdicts. FAIL means the agent cannot work on this host as
// configured; WARN that it works with less (or with a risk); SKIP that the
// check does not apply here.
const (
	OK   Status = "OK"
	Warn Status = "WARN"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Finding is the result of one check.
type Finding struct {
	// ID names the check (e.g. "kernel/vxlan", "port/api-tcp").
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Detail is one line: what was found.
	Detail string `json:"detail"`
	// Fix says how to close the gap (a Debian package or a command); empty
	// for OK.
	Fix string `json:"fix,omitempty"`
}

// Report is every finding of one Run, in a stable order.
type Report struct {
	Findings []Finding `json:"findings"`
}

// Options says which host configuration to check; zero fields take the
// agent's defaults.
type Options struct {
	// Host answers the checks; nil means RealHost.
	Host Host
	// APISocket is the local agent's API socket.
	APISocket string
	// Containerd is containerd's socket.
	Containerd string
	// DataDir holds the node's certificates (for the clock check).
	DataDir string
	// Bind is the IP the agent listens on; Advertise the one it advertises
	// (empty: the default route's interface holds it).
	Bind, Advertise string
	// The agent's ports.
	GossipPort, RaftPort, APIPort int
}

func (o Options) withDefaults() Options {
	if o.Host == nil {
		o.Host = RealHost{}
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.APISocket, api.DefaultSocket)
	def(&o.Containerd, "/run/containerd/containerd.sock")
	def(&o.DataDir, "/var/lib/shoal")
	def(&o.Bind, "0.0.0.0")
	for _, p := range []struct {
		port *int
		v    int
	}{{&o.GossipPort, api.DefaultGossipPort}, {&o.RaftPort, api.DefaultRaftPort}, {&o.APIPort, api.DefaultAPIPort}} {
		if *p.port == 0 {
			*p.port = p.v
		}
	}
	return o
}

// Run runs every check and returns their findings, in the same order every
// time. It changes nothing on the host (the kernel may load nf_tables or
// ip_vs when the probes first ask for them, as it would for the agent). It
// takes at most about 10 s, when containerd, runc, the local agent and the members
// all hang (each call has its own short timeout), and returns sooner when
// ctx ends. Safe for concurrent use.
func Run(ctx context.Context, opts Options) Report {
	opts = opts.withDefaults()
	var r Report
	r.Findings = append(r.Findings, kernelChecks(opts.Host)...)
	r.Findings = append(r.Findings, runtimeChecks(ctx, opts)...)
	agent := probeAgent(ctx, opts)
	r.Findings = append(r.Findings, portChecks(opts, agent)...)
	r.Findings = append(r.Findings, networkChecks(opts)...)
	r.Findings = append(r.Findings, clockChecks(ctx, opts, agent)...)
	return r
}

// Failed reports whether a required check failed.
func (r Report) Failed() bool {
	for _, f := range r.Findings {
		if f.Status == Fail {
			return true
		}
	}
	return false
}

// Find returns the finding with the given ID.
func (r Report) Find(id string) (Finding, bool) {
	for _, f := range r.Findings {
		if f.ID == id {
			return f, true
		}
	}
	return Finding{}, false
}

// Log writes one line per finding that is not OK: FAIL at error level,
// WARN at warn, SKIP at info.
func (r Report) Log(l *slog.Logger) {
	for _, f := range r.Findings {
		level := slog.LevelInfo
		switch f.Status {
		case OK:
			continue
		case Fail:
			level = slog.LevelError
		case Warn:
			level = slog.LevelWarn
		}
		args := []any{"check", f.ID, "status", string(f.Status), "detail", f.Detail}
		if f.Fix != "" {
			args = append(args, "fix", f.Fix)
		}
		l.Log(context.Background(), level, "doctor", args...)
	}
}

// WriteText prints aligned STATUS CHECK DETAIL columns, with an indented
// "fix:" line under each finding that is not OK and has a fix.
func (r Report) WriteText(w io.Writer) error {
	width := len("CHECK")
	for _, f := range r.Findings {
		width = max(width, len(f.ID))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s  %-*s  %s\n", "STATUS", width, "CHECK", "DETAIL")
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%-6s  %-*s  %s\n", f.Status, width, f.ID, oneLine(f.Detail))
		if f.Status != OK && f.Fix != "" {
			fmt.Fprintf(&b, "%-6s  %-*s  fix: %s\n", "", width, "", oneLine(f.Fix))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the report as one JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
