package netctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/shoal-org/shoal/api/types"
)

// records keeps, per task wired into the overlay, a small JSON file with
// its addresses (StateDir/tasks/ID.json), beside its resolv.conf and hosts
// files; the task's network namespace is pinned at StateDir/netns/ID. The
// files outlive the agent, so a restarted agent knows which addresses are
// taken and what to release. Safe for concurrent use.
type records struct {
	dir string
	mu  sync.Mutex
	m   map[string]map[string]string // task ID -> network -> address
}

func openRecords(dir string) (*records, error) {
	if dir == "" {
		return nil, errors.New("netctl: empty state directory")
	}
	r := &records{dir: dir, m: map[string]map[string]string{}}
	for _, d := range []string{r.tasksDir(), filepath.Join(dir, "netns")} {
		if err := mkdir(d); err != nil {
			return nil, err
		}
	}
	ents, err := os.ReadDir(r.tasksDir())
	if err != nil {
		return nil, fmt.Errorf("netctl: read task records: %w", err)
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(r.tasksDir(), e.Name()))
		var addrs map[string]string
		if err == nil {
			err = json.Unmarshal(b, &addrs)
		}
		if err != nil {
			return nil, fmt.Errorf("netctl: task record %s: %w (delete it if the task is gone)", e.Name(), err)
		}
		r.m[id] = addrs
	}
	return r, nil
}

func (r *records) tasksDir() string { return filepath.Join(r.dir, "tasks") }

func (r *records) netnsPath(id string) string { return filepath.Join(r.dir, "netns", id) }

func (r *records) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[id]
	return ok
}

// all returns a copy of the records.
func (r *records) all() map[string]map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]map[string]string, len(r.m))
	for id, a := range r.m {
		out[id] = maps.Clone(a)
	}
	return out
}

// put records task id's addresses durably (write, sync, rename).
func (r *records) put(id string, addrs map[string]string) error {
	b, err := json.Marshal(addrs)
	if err != nil {
		return err
	}
	path := filepath.Join(r.tasksDir(), id+".json")
	if err := writeFileSync(path, b); err != nil {
		return fmt.Errorf("netctl: record task %s: %w", id, err)
	}
	r.mu.Lock()
	r.m[id] = maps.Clone(addrs)
	r.mu.Unlock()
	return nil
}

// writeFiles writes task t's resolv.conf (the resolver at gw first, then
// the spec's DNS settings) and hosts file (ip as its hostname, then the
// spec's hosts), and returns their paths.
func (r *records) writeFiles(t *types.Task, hostname string, gw, ip netip.Addr) (resolv, hosts string, err error) {
	resolv = filepath.Join(r.tasksDir(), t.ID+".resolv.conf")
	hosts = filepath.Join(r.tasksDir(), t.ID+".hosts")
	err = errors.Join(
		os.WriteFile(resolv, resolvConf(gw, t.Spec.DNS), 0o644),
		os.WriteFile(hosts, hostsFile(hostname, ip, t.Spec.Hosts), 0o644))
	if err != nil {
		return "", "", fmt.Errorf("netctl: task %s files: %w", t.ID, err)
	}
	return resolv, hosts, nil
}

// resolvConf names the node's resolver at gw first: it answers the
// services' names, and forwards the rest to the node's own servers. The
// spec's name servers follow, for a client to turn to when the resolver
// cannot answer; ndots:0 comes before the spec's options, which can
// override it.
func resolvConf(gw netip.Addr, d *types.DNSConfig) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "nameserver %s\n", gw)
	if d == nil {
		b.WriteString("options ndots:0\n")
		return b.Bytes()
	}
	for _, ns := range d.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(d.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(d.Search, " "))
	}
	fmt.Fprintf(&b, "options %s\n", strings.Join(append([]string{"ndots:0"}, d.Options...), " "))
	return b.Bytes()
}

// hostsFile is a task's /etc/hosts: localhost, its own address as its
// hostname, then extra lines ("IP NAME [ALIAS...]").
func hostsFile(hostname string, ip netip.Addr, extra []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", ip, hostname)
	for _, h := range extra {
		f := strings.Fields(h)
		fmt.Fprintf(&b, "%s\t%s\n", f[0], strings.Join(f[1:], " "))
	}
	return b.Bytes()
}

// remove deletes task id's record and files.
func (r *records) remove(id string) error {
	var errs []error
	for _, suffix := range []string{".resolv.conf", ".hosts", ".json"} {
		if err := os.Remove(filepath.Join(r.tasksDir(), id+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("netctl: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
	return nil
}

func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
