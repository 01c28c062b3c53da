package doctor

import (
	"context"
	"fmt"
	"time"
)

// runtimeChecks checks containerd (its socket answers a Version call) and
// runc (on PATH, with a version).
func runtimeChecks(ctx context.Context, o Options) []Finding {
	return []Finding{containerdCheck(ctx, o), runcCheck(ctx, o.Host)}
}

func containerdCheck(ctx context.Context, o Options) Finding {
	const id = "containerd"
	if !o.Host.Exists(o.Containerd) {
		fix := "apt-get install containerd; systemctl enable --now containerd"
		return Finding{ID: id, Status: Fail, Detail: fmt.Sprintf("no socket at %s", o.Containerd),
			Fix: fix + " (or pass --containerd with its socket)"}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, err := o.Host.Containerd(ctx, o.Containerd)
	if err != nil {
		return Finding{ID: id, Status: Fail, Detail: fmt.Sprintf("%s does not answer: %v", o.Containerd, err),
			Fix: "systemctl restart containerd; journalctl -u containerd shows why it is stuck"}
	}
	return Finding{ID: id, Status: OK, Detail: fmt.Sprintf("version %s at %s", v, o.Containerd)}
}

func runcCheck(ctx context.Context, h Host) Finding {
	const id = "runc"
	p, err := h.LookPath("runc")
	if err != nil {
		return Finding{ID: id, Status: Fail, Detail: "runc is not on PATH: containerd cannot start tasks", Fix: "apt-get install runc"}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out, err := h.Output(ctx, p, "--version")
	if err != nil {
		return Finding{ID: id, Status: Fail, Detail: fmt.Sprintf("%s --version failed: %v", p, err), Fix: "apt-get install --reinstall runc"}
	}
	return Finding{ID: id, Status: OK, Detail: fmt.Sprintf("%s (%s)", trimFirstLine(out), p)}
}
