package doctor

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/shoal-org/shoal/api"
)

// fakeHost is a Host made of maps. Files double as the paths that exist.
type fakeHost struct {
	files      map[string]string
	readOnly   map[string]bool // exist but are not writable
	programs   map[string]string
	outputs    map[string]string // "PATH ARGS" -> stdout
	release    string
	root       bool
	nftErr     error
	nftTables  int
	ipvsErr    error
	ctrVersion string
	ctrErr     error
	taken      map[string]bool // "tcp 0.0.0.0:7946"
	link       Link
	linkErr    error
	info       api.Info
	members    []api.Member
	agentErr   error
	clocks     map[string]ClockSample // by member address
	clockErrs  map[string]error
}

var _ Host = (*fakeHost)(nil)

func (f *fakeHost) ReadFile(path string) ([]byte, error) {
	s, ok := f.files[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}

func (f *fakeHost) Exists(path string) bool {
	if _, ok := f.files[path]; ok {
		return true
	}
	for p := range f.files { // a directory exists when something is under it
		if strings.HasPrefix(p, path+"/") {
			return true
		}
	}
	return false
}

func (f *fakeHost) Writable(path string) bool { return f.Exists(path) && !f.readOnly[path] }

func (f *fakeHost) LookPath(name string) (string, error) {
	if p, ok := f.programs[name]; ok {
		return p, nil
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

func (f *fakeHost) Output(_ context.Context, name string, args ...string) (string, error) {
	out, ok := f.outputs[strings.Join(append([]string{name}, args...), " ")]
	if !ok {
		return "", errors.New("exit status 1")
	}
	return out, nil
}

func (f *fakeHost) KernelRelease() string { return f.release }
func (f *fakeHost) Root() bool            { return f.root }
func (f *fakeHost) NFTables() (int, error) {
	return f.nftTables, f.nftErr
}
func (f *fakeHost) IPVS() error { return f.ipvsErr }

func (f *fakeHost) Containerd(context.Context, string) (string, error) {
	return f.ctrVersion, f.ctrErr
}

func (f *fakeHost) Listen(network, addr string) error {
	if f.taken[network+" "+addr] {
		return fmt.Errorf("listen %s %s: bind: address already in use", network, addr)
	}
	return nil
}

// Underlay returns link holding advertise, or 10.0.0.1 (the address the
// agent would pick) when advertise is empty.
func (f *fakeHost) Underlay(advertise string) (Link, error) {
	l := f.link
	l.Addr = advertise
	if advertise == "" {
		l.Addr = "10.0.0.1"
	}
	return l, f.linkErr
}

func (f *fakeHost) LocalAgent(context.Context, string) (api.Info, []api.Member, error) {
	return f.info, f.members, f.agentErr
}

func (f *fakeHost) PeerClock(_ context.Context, _, addr string) (ClockSample, error) {
	if err := f.clockErrs[addr]; err != nil {
		return ClockSample{}, err
	}
	s, ok := f.clocks[addr]
	if !ok {
		return ClockSample{}, errors.New("connection refused")
	}
	return s, nil
}

// gz compresses s, as /proc/config.gz is.
func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

const testRelease = "6.1.0-test-amd64"

// debianHost is a stock Debian 12 host, as root: everything a loadable
// module, loaded where the agent has used it, containerd running.
func debianHost() *fakeHost {
	mods := "/lib/modules/" + testRelease
	f := &fakeHost{
		files: map[string]string{
			"/proc/modules": "vxlan 106496 0 - Live 0x0\nbridge 311296 0 - Live 0x0\nnf_tables 290816 0 - Live 0x0\n" +
				"overlay 163840 0 - Live 0x0\n",
			"/proc/filesystems":                         "nodev\tsysfs\nnodev\tcgroup2\nnodev\toverlay\n\text4\n",
			"/sys/fs/cgroup/cgroup.controllers":         "cpuset cpu io memory hugetlb pids rdma misc\n",
			"/proc/sys/net/ipv4/ip_forward":             "0\n",
			"/proc/sys/net/ipv4/conf/eth0/forwarding":   "0\n",
			mods + "/modules.builtin":                   "kernel/drivers/net/veth.ko\n",
			"/run/containerd/containerd.sock":           "",
			"/var/lib/shoal/tls/node.pem":               "",
			mods + "/modules.dep":                       "",
			mods + "/kernel/drivers/net/vxlan/vxlan.ko": "",
		},
		readOnly:   map[string]bool{},
		programs:   map[string]string{"runc": "/usr/sbin/runc"},
		outputs:    map[string]string{"/usr/sbin/runc --version": "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\n"},
		release:    testRelease,
		root:       true,
		nftTables:  2,
		ctrVersion: "1.6.20~ds1",
		taken:      map[string]bool{},
		link:       Link{Name: "eth0", MTU: 1500},
		agentErr:   errors.New("dial unix /run/shoal/agent.sock: connect: no such file or directory"),
	}
	var dep []string
	for _, m := range []string{"net/netfilter/nf_tables", "net/netfilter/nft_nat", "net/netfilter/nft_ct",
		"net/netfilter/nft_masq", "net/netfilter/nft_fib", "net/ipv4/netfilter/nft_fib_ipv4", "net/netfilter/ipvs/ip_vs",
		"net/netfilter/ipvs/ip_vs_rr", "net/netfilter/ipvs/ip_vs_wrr", "drivers/net/dummy", "net/bridge/bridge",
		"drivers/net/vxlan/vxlan", "fs/overlayfs/overlay"} {
		file := "kernel/" + m + ".ko.xz"
		dep = append(dep, file+":")
		f.files[mods+"/"+file] = ""
	}
	sort.Strings(dep)
	f.files[mods+"/modules.dep"] = strings.Join(dep, "\n") + "\n"
	return f
}
