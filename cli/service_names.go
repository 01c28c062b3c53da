package cli

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/shoal-org/shoal/api/types"
)

// nameFlags are service create's /etc/hosts and resolv.conf flags.
type nameFlags struct {
	// --host is docker service create's name, but agentctl's --host picks
	// the agent: docker run's --add-host it is.
	AddHost   []string `name:"add-host" sep:"none" placeholder:"NAME:IP" help:"A line of the tasks' /etc/hosts (docker service create's --host); repeatable."`
	DNS       []string `sep:"none" placeholder:"IP" help:"A name server for the tasks, after the node's resolver (at most 2); repeatable."`
	DNSSearch []string `name:"dns-search" sep:"none" placeholder:"DOMAIN" help:"A search domain of the tasks' resolv.conf; repeatable."`
	DNSOption []string `name:"dns-option" sep:"none" placeholder:"OPT" help:"A resolv.conf option, e.g. ndots:2; repeatable."`
}

func (f *nameFlags) apply(t *types.TaskTemplate) error {
	hosts, err := hostLines("add-host", nil, f.AddHost)
	if err != nil {
		return err
	}
	t.Hosts = hosts
	d := types.DNSConfig{Nameservers: addUnique(nil, f.DNS), Search: addUnique(nil, f.DNSSearch), Options: addUnique(nil, f.DNSOption)}
	return setDNS(t, d, "dns")
}

// nameUpdateFlags are service update's.
type nameUpdateFlags struct {
	HostAdd      []string `sep:"none" placeholder:"NAME:IP" help:"Add a line to the tasks' /etc/hosts; repeatable."`
	HostRm       []string `sep:"none" placeholder:"NAME[:IP]" help:"Remove the /etc/hosts lines of a name (or only the one with that address); repeatable."`
	DNSAdd       []string `name:"dns-add" sep:"none" placeholder:"IP" help:"Add a name server; repeatable."`
	DNSRm        []string `name:"dns-rm" sep:"none" placeholder:"IP" help:"Remove a name server; repeatable."`
	DNSSearchAdd []string `name:"dns-search-add" sep:"none" placeholder:"DOMAIN" help:"Add a search domain; repeatable."`
	DNSSearchRm  []string `name:"dns-search-rm" sep:"none" placeholder:"DOMAIN" help:"Remove a search domain; repeatable."`
	DNSOptionAdd []string `name:"dns-option-add" sep:"none" placeholder:"OPT" help:"Add a resolv.conf option; repeatable."`
	DNSOptionRm  []string `name:"dns-option-rm" sep:"none" placeholder:"OPT" help:"Remove a resolv.conf option; repeatable."`
}

func (f *nameUpdateFlags) apply(t *types.TaskTemplate) error {
	hosts := removeWhere(t.Hosts, f.HostRm, func(line, rm string) bool {
		name, ip, _ := strings.Cut(rm, ":")
		fs := strings.Fields(line)
		return slices.Contains(fs[1:], name) && (ip == "" || fs[0] == ip)
	})
	hosts, err := hostLines("host-add", hosts, f.HostAdd)
	if err != nil {
		return err
	}
	t.Hosts = hosts
	var d types.DNSConfig
	if t.DNS != nil {
		d = *t.DNS
	}
	same := func(a, b string) bool { return a == b }
	d.Nameservers = addUnique(removeWhere(d.Nameservers, f.DNSRm, same), f.DNSAdd)
	d.Search = addUnique(removeWhere(d.Search, f.DNSSearchRm, same), f.DNSSearchAdd)
	d.Options = addUnique(removeWhere(d.Options, f.DNSOptionRm, same), f.DNSOptionAdd)
	return setDNS(t, d, "dns-add")
}

// hostLines adds docker's NAME:IP (or NAME=IP) host flags to lines, as
// the "IP NAME" lines a spec keeps.
func hostLines(flag string, lines, add []string) ([]string, error) {
	out := slices.Clone(lines)
	for _, h := range add {
		sep := ":" // at the first one, as docker: NAME:IPv6 keeps its colons
		if strings.Contains(h, "=") {
			sep = "="
		}
		name, ip, ok := strings.Cut(h, sep)
		if !ok || name == "" {
			return nil, flagErr(flag, h, "expected NAME:IP, e.g. db.local:10.0.0.5")
		}
		if _, err := netip.ParseAddr(ip); err != nil {
			return nil, flagErr(flag, h, "%q is not an IP address: expected NAME:IP, e.g. db.local:10.0.0.5", ip)
		}
		out = append(out, ip+" "+name)
	}
	return out, nil
}

// setDNS sets t's DNS settings, none when all are empty, checking the
// name servers' addresses.
func setDNS(t *types.TaskTemplate, d types.DNSConfig, flag string) error {
	for _, ns := range d.Nameservers {
		if _, err := netip.ParseAddr(ns); err != nil {
			return flagErr(flag, ns, "is not an IP address: give a name server's address, such as 10.0.0.2")
		}
	}
	if len(d.Nameservers)+len(d.Search)+len(d.Options) == 0 {
		t.DNS = nil
		return nil
	}
	t.DNS = &d
	return nil
}
