package spec

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"text/template"

	"github.com/shoal-org/shoal/api/types"
)

// TaskContext is what a task's hostname template may name, as docker's
// placeholders do: {{.Service.Name}}, {{.Task.Slot}}, {{.Node.Hostname}}…
type TaskContext struct {
	Service struct {
		ID, Name string
		Labels   map[string]string
	}
	Node struct {
		ID, Hostname string
		Platform     struct{ Architecture, OS string }
	}
	Task struct{ ID, Name, Slot string }
}

// NewTaskContext is t's context on node.
func NewTaskContext(t *types.Task, svcLabels map[string]string, node types.Node) TaskContext {
	var c TaskContext
	c.Service.ID, c.Service.Name, c.Service.Labels = t.ServiceID, t.ServiceName, svcLabels
	c.Node.ID, c.Node.Hostname = node.ID, node.Hostname
	c.Node.Platform.OS, c.Node.Platform.Architecture = node.Platform.OS, node.Platform.Architecture
	c.Task.ID = t.ID
	if t.Slot > 0 {
		c.Task.Slot = fmt.Sprint(t.Slot)
		c.Task.Name = fmt.Sprintf("%s.%d.%s", t.ServiceName, t.Slot, t.ID)
	} else {
		c.Task.Slot = node.ID
		c.Task.Name = fmt.Sprintf("%s.%s.%s", t.ServiceName, node.ID, t.ID)
	}
	return c
}

// hostnamePattern is a DNS name: labels of letters, digits and '-', not
// starting or ending with '-', joined by dots.
var hostnamePattern = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)

// ExpandHostname runs the hostname template tmpl for ctx and checks that
// the result is a host name.
func ExpandHostname(tmpl string, ctx TaskContext) (string, error) {
	t, err := template.New("hostname").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", invalid("hostname", tmpl, "is not a template: "+strings.TrimPrefix(err.Error(), "template: hostname:"),
			"use a name, or docker's placeholders such as {{.Service.Name}}-{{.Task.Slot}}")
	}
	var b bytes.Buffer
	if err := t.Execute(&b, ctx); err != nil {
		return "", invalid("hostname", tmpl, "names something a task does not have: "+strings.TrimPrefix(err.Error(), "template: hostname:"),
			"use .Service.ID/.Name/.Labels, .Node.ID/.Hostname/.Platform.OS/.Platform.Architecture or .Task.ID/.Name/.Slot")
	}
	name := b.String()
	if len(name) > 253 || !hostnamePattern.MatchString(name) {
		return "", invalid("hostname", tmpl, fmt.Sprintf("gives %q, which is not a host name", name),
			"use letters, digits, '-' and dots, each label at most 63 characters")
	}
	return name, nil
}

// sampleContext is a task's context as the front door checks a template
// against, before any task exists.
func sampleContext(s *types.ServiceSpec) TaskContext {
	return NewTaskContext(&types.Task{ID: "0123456789abcdefghijklmno", ServiceID: "0123456789abcdefghijklmno", ServiceName: s.Name, Slot: 1},
		s.Labels, types.Node{ID: "0123456789abcdefghijklmno", Hostname: "node-1", Platform: types.Platform{OS: "linux", Architecture: "amd64"}})
}

// checkNames validates the task's hostname, hosts and DNS settings.
func checkNames(s *types.ServiceSpec) error {
	t := s.Task
	if t.Hostname != "" {
		if _, err := ExpandHostname(t.Hostname, sampleContext(s)); err != nil {
			return err
		}
	}
	for _, h := range t.Hosts {
		f := strings.Fields(h)
		if len(f) < 2 {
			return invalid("host", h, "is not IP NAME [ALIAS...]", "give an address and a name, e.g. --host db.local:10.0.0.5")
		}
		if _, err := netip.ParseAddr(f[0]); err != nil {
			return invalid("host", h, "does not start with an IP address", "give an address and a name, e.g. --host db.local:10.0.0.5")
		}
		for _, n := range f[1:] {
			if !hostnamePattern.MatchString(n) {
				return invalid("host", h, fmt.Sprintf("names %q, which is not a host name", n), "use letters, digits, '-' and dots")
			}
		}
	}
	d := t.DNS
	if d == nil {
		return nil
	}
	for _, ns := range d.Nameservers {
		if _, err := netip.ParseAddr(ns); err != nil {
			return invalid("dns", ns, "is not an IP address", "give a name server's address, such as 10.0.0.2")
		}
	}
	if len(d.Nameservers) > 2 {
		return invalid("dns", strings.Join(d.Nameservers, ","), "lists more than 2 servers",
			"give at most 2: the resolver takes the first of the 3 places resolv.conf has")
	}
	for _, dom := range d.Search {
		if !hostnamePattern.MatchString(strings.TrimSuffix(dom, ".")) {
			return invalid("dns-search", dom, "is not a domain", "use a domain such as example.com")
		}
	}
	for _, o := range d.Options {
		if o == "" || strings.ContainsAny(o, " \t\n") {
			return invalid("dns-option", o, "is not a resolv.conf option", "use one word, such as ndots:2 or edns0")
		}
	}
	return nil
}
