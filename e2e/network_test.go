//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/e2e/lab"
)

// inTask runs argv inside task tk's network namespace, on its node.
func inTask(t *testing.T, l *lab.Lab, tk api.Task, argv ...string) (string, error) {
	t.Helper()
	n, err := l.Node(tk.NodeHostname)
	if err != nil {
		t.Fatal(err)
	}
	ns := filepath.Join(n.DataDir, "net", "netns", tk.ID)
	out, stderr, err := l.Exec(context.Background(), tk.NodeHostname, append([]string{"nsenter", "--net=" + ns, "--"}, argv...)...)
	if err != nil {
		return out, fmt.Errorf("%v: %s", err, stderr)
	}
	return out, nil
}

// dig asks the resolver of task tk's network for name and returns the
// sorted answers.
func dig(t *testing.T, l *lab.Lab, tk api.Task, name string) []string {
	t.Helper()
	gw := gatewayOf(tk.Addresses["shoal"])
	out, err := inTask(t, l, tk, "dig", "+short", "+time=1", "+tries=1", "@"+gw, name)
	if err != nil {
		t.Fatalf("dig %s from task %s: %v", name, tk.ID, err)
	}
	ans := strings.Fields(out)
	slices.Sort(ans)
	return ans
}

// gatewayOf is the .1 of ip's /24 (the lab's node subnets are /24s).
func gatewayOf(ip string) string {
	return ip[:strings.LastIndex(ip, ".")] + ".1"
}

func addrs(ts []api.Task, network string) []string {
	var out []string
	for _, tk := range ts {
		out = append(out, tk.Addresses[network])
	}
	slices.Sort(out)
	return out
}

func onNode(ts []api.Task, node string) api.Task {
	for _, tk := range ts {
		if tk.NodeHostname == node {
			return tk
		}
	}
	return api.Task{}
}

// TestOverlay walks issue 4's scenarios on a 3-node lab: the overlay
// between nodes, isolation between networks, DNS, the VIP's balance,
// published ports, scale-down without failed requests, and recovery after
// an agent is killed or stopped.
func TestOverlay(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 3})
	ctx := context.Background()
	img := pushImages(t, l)
	web := img["web:v1"]
	agentctl(t, l, "n1", "service", "create", "--detach", "--name", "web", "--replicas", "3", web)
	ts := waitRunning(t, l, "web", 3, "n1=1 n2=1 n3=1", 60*time.Second)
	n1, n3 := onNode(ts, "n1"), onNode(ts, "n3")

	t.Run("a task on n1 reaches a task on n3 by IP; other networks are out of reach", func(t *testing.T) {
		out, err := inTask(t, l, n1, "curl", "-sS", "-m", "3", "http://"+n3.Addresses["shoal"]+"/")
		if err != nil || !strings.Contains(out, n3.ID) {
			t.Fatalf("n1 → n3 over the overlay: %q %v", out, err)
		}
		agentctl(t, l, "n1", "network", "create", "back")
		agentctl(t, l, "n1", "service", "create", "--detach", "--name", "db", "--network", "back",
			"--constraint", "node.hostname==n3", web)
		db := waitRunning(t, l, "db", 1, "n3=1", 60*time.Second)[0]
		ip := db.Addresses["back"]
		if ip == "" {
			t.Fatalf("db task has no address on network back: %v", db.Addresses)
		}
		if out, err := inTask(t, l, n1, "curl", "-sS", "-m", "2", "http://"+ip+"/"); err == nil {
			t.Errorf("a task on network shoal reached %s on network back: %s", ip, out)
		}
		// The same task on n3 cannot either (same node, other network).
		if out, err := inTask(t, l, n3, "curl", "-sS", "-m", "2", "http://"+ip+"/"); err == nil {
			t.Errorf("a task on n3's shoal network reached %s on back: %s", ip, out)
		}
	})

	t.Run("DNS: the service name is the VIP, tasks.NAME the running tasks", func(t *testing.T) {
		vip := inspect(t, l, "web").VIPs["shoal"]
		if got := dig(t, l, n1, "web"); !slices.Equal(got, []string{vip}) {
			t.Errorf("web resolves to %v, want the VIP %s", got, vip)
		}
		if got, want := dig(t, l, n1, "tasks.web"), addrs(ts, "shoal"); !slices.Equal(got, want) {
			t.Errorf("tasks.web = %v, want %v", got, want)
		}
		if got := dig(t, l, n1, "db"); len(got) != 0 {
			t.Errorf("db (on network back only) resolves from network shoal to %v", got)
		}
		agentctl(t, l, "n1", "service", "scale", "--detach", "web=5")
		ts5 := waitRunning(t, l, "web", 5, "", 60*time.Second)
		start := time.Now()
		want := addrs(ts5, "shoal")
		waitUntil(t, 5*time.Second, "tasks.web follows the scale", func() (bool, string) {
			got := dig(t, l, n1, "tasks.web")
			return slices.Equal(got, want), strings.Join(got, ",")
		})
		t.Logf("tasks.web showed the 5 running tasks %v after they were reported running", time.Since(start).Round(time.Millisecond))
		agentctl(t, l, "n1", "service", "scale", "--detach", "web=3")
		ts = waitRunning(t, l, "web", 3, "", 60*time.Second)
		n1 = onNode(ts, "n1")
	})

	t.Run("the VIP spreads 300 requests over every replica", func(t *testing.T) {
		vip := inspect(t, l, "web").VIPs["shoal"]
		script := fmt.Sprintf("for i in $(seq 300); do curl -sS -m 2 http://%s/; echo; done", vip)
		out, err := inTask(t, l, n1, "sh", "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, tk := range ts {
			count[tk.ID] = strings.Count(out, tk.ID)
		}
		t.Logf("300 requests to the VIP from a task on n1, by task: %v", count)
		for id, n := range count {
			if n < 60 {
				t.Errorf("task %s got %d of 300 requests, want roughly 100", id, n)
			}
		}
	})

	t.Run("a published port answers on every node", func(t *testing.T) {
		agentctl(t, l, "n1", "service", "create", "--detach", "--name", "pub", "--publish", "8080:80",
			"--constraint", "node.hostname==n3", web)
		pub := waitRunning(t, l, "pub", 1, "n3=1", 60*time.Second)[0]
		// The leader has seen the task healthy; every other node programs
		// the port when its replica applies that (raft's commit reaches a
		// follower within its commit timeout, 50 ms), so each node gets a
		// few seconds to converge.
		for _, node := range []string{"n1", "n2"} {
			n, _ := l.Node(node)
			start := time.Now()
			waitUntil(t, followerLag, "published port on "+node, func() (bool, string) {
				out, stderr, err := l.Exec(ctx, lab.HubName, "curl", "-sS", "-m", "3", "http://"+n.Addr+":8080/")
				return err == nil && strings.Contains(out, pub.ID), fmt.Sprintf("%q%s %s", out, errString(err), stderr)
			})
			t.Logf("published port on %s answered %v after the task was seen serving", node, time.Since(start).Round(time.Millisecond))
		}
	})

	t.Run("scale 6 to 2 under load through the VIP: no failed request", func(t *testing.T) {
		agentctl(t, l, "n1", "service", "scale", "--detach", "web=6")
		waitRunning(t, l, "web", 6, "", 60*time.Second)
		vip := inspect(t, l, "web").VIPs["shoal"]
		ld := startLoad(t, l, "n2", "http://"+vip+"/", 100)
		time.Sleep(2 * time.Second) // some load before the change
		agentctl(t, l, "n1", "service", "scale", "web=2")
		waitRunning(t, l, "web", 2, "", 60*time.Second)
		time.Sleep(4 * time.Second) // the stopped tasks are gone by now
		ok, failed, errs := ld.stop()
		t.Logf("scale 6 → 2 under load: %d ok, %d failed %v", ok, failed, errs)
		if failed != 0 {
			t.Errorf("%d of %d requests failed during the scale-down: %v", failed, ok+failed, errs)
		}
	})

	t.Run("a killed agent's node gets its overlay back; a stopped node's routes go", func(t *testing.T) {
		// Sorted lines without the link state ("linkdown" shows while a
		// bridge has no task).
		norm := func(out string) string {
			lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(out, " linkdown", "")), "\n")
			slices.Sort(lines)
			return strings.Join(lines, "\n")
		}
		routes := func(node string) string {
			out, _, err := l.Exec(ctx, node, "ip", "route", "show", "proto", "73")
			if err != nil {
				t.Fatal(err)
			}
			return norm(out)
		}
		fdb := func(node string) string {
			out, _, _ := l.Exec(ctx, node, "bridge", "fdb", "show", "dev", "shoalvx4096")
			return norm(out)
		}
		n2Routes, n2FDB := routes("n2"), fdb("n2")
		if err := l.Kill("n2", false); err != nil {
			t.Fatal(err)
		}
		// Wipe what the agent built, as a reboot would (not its tasks).
		for _, dev := range []string{"shoalvx4096", "shoalbr4096"} {
			_, _, _ = l.Exec(ctx, "n2", "ip", "link", "del", dev)
		}
		if err := l.Start("n2"); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, "n2's routes and FDB back", func() (bool, string) {
			r, f := routes("n2"), fdb("n2")
			nodes, _ := l.Agentctl(ctx, "n2", "node", "ls")
			return r == n2Routes && f == n2FDB, fmt.Sprintf("routes:\n%s\nwant:\n%s\nfdb:\n%s\nwant:\n%s\nnode ls on n2:\n%s", r, n2Routes, f, n2FDB, nodes)
		})
		var shoal types.Network
		apiGet(t, l, "n1", "/v1/networks/shoal", &shoal)
		ids := byHost(nodeLs(t, l, "n1"))
		n2Sub, n3Sub := shoal.Leases[ids["n2"].ID], shoal.Leases[ids["n3"].ID]
		if n2Sub == "" || n3Sub == "" || !strings.Contains(routes("n1"), n3Sub) {
			t.Fatalf("n1's routes %q before the stop lack n3's subnet %q (n2's %q)", routes("n1"), n3Sub, n2Sub)
		}
		if err := l.Stop("n3"); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, "n1 drops n3's route", func() (bool, string) {
			r := routes("n1")
			return !strings.Contains(r, n3Sub), r
		})
		if !strings.Contains(routes("n1"), n2Sub) {
			t.Errorf("n1 lost n2's route %s too: %s", n2Sub, routes("n1"))
		}
		if err := l.Start("n3"); err != nil {
			t.Fatal(err)
		}
	})
}
