package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// printServicePretty writes `service inspect --pretty` for svc.
func printServicePretty(w io.Writer, svc api.Service) {
	writeServicePretty(w, svc, nowFunc())
}

// writeServicePretty lays a service out as docker's --pretty template
// does; now dates the update status.
func writeServicePretty(w io.Writer, svc api.Service, now time.Time) {
	s := svc.Spec
	fmt.Fprintf(w, "ID:             %s\n", svc.ID)
	fmt.Fprintf(w, "Name:           %s\n", s.Name)
	if len(s.Labels) > 0 {
		fmt.Fprintln(w, "Labels:")
		for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
			if v := s.Labels[k]; v != "" {
				fmt.Fprintf(w, " %s=%s\n", k, v)
			} else {
				fmt.Fprintf(w, " %s\n", k)
			}
		}
	}
	if s.Mode.Global {
		fmt.Fprintln(w, "Service Mode:   Global")
	} else {
		fmt.Fprintln(w, "Service Mode:   Replicated")
		fmt.Fprintf(w, " Replicas:      %d\n", s.Mode.Replicas)
	}
	if st := svc.UpdateStatus; st != nil {
		fmt.Fprintln(w, "UpdateStatus:")
		fmt.Fprintf(w, " State:         %s\n", st.State)
		if !st.StartedAt.IsZero() {
			fmt.Fprintf(w, " Started:       %s ago\n", api.Since(st.StartedAt, now))
		}
		if !st.CompletedAt.IsZero() {
			fmt.Fprintf(w, " Completed:     %s ago\n", api.Since(st.CompletedAt, now))
		}
		fmt.Fprintf(w, " Message:       %s\n", st.Message)
	}
	writePlacement(w, s.Task.Placement)
	writeUpdateConfig(w, "UpdateConfig", "Update order:", s.Update)
	writeUpdateConfig(w, "RollbackConfig", "Rollback order:", s.Rollback)
	writeContainerSpec(w, s.Task)
	writeResources(w, s.Task)
	if len(s.Task.Networks) > 0 {
		fmt.Fprintf(w, "Networks:       %s\n", strings.Join(s.Task.Networks, " "))
	}
	mode := s.Endpoint.Mode
	if mode == "" {
		mode = "vip"
	}
	fmt.Fprintf(w, "Endpoint Mode:  %s\n", mode)
	if len(s.Endpoint.Ports) > 0 {
		fmt.Fprintln(w, "Ports:")
		for _, p := range s.Endpoint.Ports {
			fmt.Fprintf(w, " PublishedPort = %d\n  Protocol = %s\n  TargetPort = %d\n  PublishMode = ingress\n",
				p.PublishedPort, p.Protocol, p.TargetPort)
		}
	}
	if len(svc.VIPs) > 0 {
		fmt.Fprintln(w, "Virtual IPs:")
		for _, n := range slices.Sorted(maps.Keys(svc.VIPs)) {
			fmt.Fprintf(w, " %s: %s\n", n, svc.VIPs[n])
		}
	}
	writeHealthcheck(w, s.Task.Healthcheck)
}

func writePlacement(w io.Writer, p types.Placement) {
	fmt.Fprintln(w, "Placement:")
	if len(p.Constraints) > 0 {
		fmt.Fprintf(w, " Constraints:   [%s]\n", strings.Join(p.Constraints, " "))
	}
	if len(p.Preferences) > 0 {
		prefs := make([]string, len(p.Preferences))
		for i, pr := range p.Preferences {
			prefs[i] = "spread=" + pr
		}
		fmt.Fprintf(w, " Preferences:   [%s]\n", strings.Join(prefs, " "))
	}
	if p.MaxReplicas > 0 {
		fmt.Fprintf(w, " Max Replicas Per Node:   %d\n", p.MaxReplicas)
	}
}

func writeUpdateConfig(w io.Writer, title, orderLabel string, c types.UpdateConfig) {
	fmt.Fprintln(w, title+":")
	fmt.Fprintf(w, " Parallelism:   %d\n", c.Batch())
	if c.Delay > 0 {
		fmt.Fprintf(w, " Delay:         %s\n", c.Delay)
	}
	fmt.Fprintf(w, " On failure:    %s\n", c.FailureAction)
	if c.Monitor > 0 {
		fmt.Fprintf(w, " Monitoring Period: %s\n", c.Monitor)
	}
	fmt.Fprintf(w, " Max failure ratio: %g\n", c.MaxFailureRatio)
	fmt.Fprintf(w, " %-18s %s\n", orderLabel, c.Order)
}

func writeContainerSpec(w io.Writer, t types.TaskTemplate) {
	fmt.Fprintln(w, "ContainerSpec:")
	fmt.Fprintf(w, " Image:         %s\n", t.Image)
	if len(t.Command) > 0 {
		fmt.Fprintf(w, " Command:       %s\n", strings.Join(t.Command, " "))
	}
	if len(t.Args) > 0 {
		fmt.Fprintf(w, " Args:          %s\n", strings.Join(t.Args, " "))
	}
	if len(t.Env) > 0 {
		fmt.Fprintf(w, " Env:           %s\n", strings.Join(t.Env, " "))
	}
	if t.Dir != "" {
		fmt.Fprintf(w, " Dir:           %s\n", t.Dir)
	}
	if t.User != "" {
		fmt.Fprintf(w, " User:          %s\n", t.User)
	}
	if t.StopSignal != "" {
		fmt.Fprintf(w, " StopSignal:    %s\n", t.StopSignal)
	}
	if t.StopGracePeriod > 0 {
		fmt.Fprintf(w, " StopGracePeriod: %s\n", t.StopGracePeriod)
	}
	if len(t.Mounts) > 0 {
		fmt.Fprintln(w, "Mounts:")
		for _, m := range t.Mounts {
			fmt.Fprintf(w, " Target:        %s\n  Source:       %s\n  ReadOnly:     %t\n  Type:         %s\n", m.Target, m.Source, m.ReadOnly, m.Type)
			if m.TmpfsSize > 0 {
				fmt.Fprintf(w, "  TmpfsSize:    %d\n", m.TmpfsSize)
			}
			if m.TmpfsMode > 0 {
				fmt.Fprintf(w, "  TmpfsMode:    %04o\n", m.TmpfsMode)
			}
		}
	}
	for _, k := range []struct {
		title string
		refs  []types.FileRef
	}{{"Secrets:", t.Secrets}, {"Configs:", t.Configs}} {
		if len(k.refs) > 0 {
			fmt.Fprintln(w, k.title)
			for _, r := range k.refs {
				fmt.Fprintf(w, " Target:        %s\n  Source:       %s\n", r.Target, r.Name)
			}
		}
	}
}

func writeResources(w io.Writer, t types.TaskTemplate) {
	fmt.Fprintln(w, "Resources:")
	for _, r := range []struct {
		title string
		res   types.Resources
	}{{"Reservations", t.Reservations}, {"Limits", t.Limits}} {
		if r.res == (types.Resources{}) {
			continue
		}
		fmt.Fprintf(w, " %s:\n", r.title)
		if r.res.NanoCPUs > 0 {
			fmt.Fprintf(w, "  CPU:          %g\n", float64(r.res.NanoCPUs)/1e9)
		}
		if r.res.MemoryBytes > 0 {
			fmt.Fprintf(w, "  Memory:       %s\n", humanBytes(r.res.MemoryBytes))
		}
	}
}

func writeHealthcheck(w io.Writer, h *types.HealthConfig) {
	if h == nil {
		return
	}
	fmt.Fprintln(w, "Healthcheck:")
	if len(h.Test) == 1 && h.Test[0] == "NONE" {
		fmt.Fprintln(w, " Disabled")
		return
	}
	fmt.Fprintf(w, " Interval = %s\n Retries = %d\n StartPeriod = %s\n Timeout = %s\n", h.Interval, h.Retries, h.StartPeriod, h.Timeout)
	if len(h.Test) > 0 {
		fmt.Fprintln(w, " Tests:")
		for _, t := range h.Test {
			fmt.Fprintf(w, "  Test = %s\n", t)
		}
	}
}
