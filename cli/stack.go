package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/stack"
)

// environ is the environment compose files are interpolated from; a
// variable so tests need not touch the process environment.
var environ = os.Environ

// StackCmd is `agentctl stack`: docker's stack commands, client side over
// the /v1 API (package stack converts the compose files and plans).
type StackCmd struct {
	Deploy   StackDeployCmd   `cmd:"" aliases:"up" help:"Deploy a new stack or update an existing one from compose files."`
	Ls       StackLsCmd       `cmd:"" aliases:"list" help:"List stacks."`
	Ps       StackPsCmd       `cmd:"" help:"List the tasks of a stack."`
	Services StackServicesCmd `cmd:"" help:"List the services of a stack."`
	Rm       StackRmCmd       `cmd:"" aliases:"remove,down" help:"Remove stacks: their services, then their networks."`
}

// StackDeployCmd is `agentctl stack deploy`.
type StackDeployCmd struct {
	ComposeFile      []string `short:"c" name:"compose-file" sep:"none" placeholder:"FILE" required:"" help:"Compose file (compose spec or version 3); repeat to merge several, later ones overriding."`
	Prune            bool     `help:"Remove the stack's services that are no longer in the compose files."`
	WithRegistryAuth bool     `help:"Send, with each service created or updated, the login 'docker login' stored for its image's registry."`
	Detach           bool     `short:"d" default:"true" negatable:"" help:"Return once the changes are sent (default); --no-detach waits for each changed service to converge."`
	Quiet            bool     `short:"q" help:"With --no-detach, print no progress."`
	Name             string   `arg:"" help:"Stack name: the prefix of its objects' names (STACK_SERVICE)."`
}

// Run converts the compose files, plans against the cluster and applies
// the plan: networks, then services created or updated, then pruned. A
// file that does not convert, or a plan that cannot be applied (a missing
// external network, a name taken outside the stack), changes nothing.
func (d *StackDeployCmd) Run(g *Globals) error {
	ctx := context.Background()
	st, warnings, err := stack.Build(ctx, stack.LoadOptions{Files: d.ComposeFile, Name: d.Name, Env: environ()})
	warn(warnings)
	if err != nil {
		return err
	}
	auth := func(string) (string, error) { return "", nil }
	if d.WithRegistryAuth {
		auth = registryAuthFor
		for _, spec := range st.Services { // every login is there before anything is written
			if _, err := auth(spec.Task.Image); err != nil {
				return fmt.Errorf("service %s: %w", spec.Name, err)
			}
		}
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	svcs, err := cl.Services(ctx)
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	nets, err := cl.Networks(ctx)
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	plan, err := stack.PlanDeploy(st, plainServices(svcs), nets, d.Prune)
	if err != nil {
		return err
	}
	files, err := planFiles(ctx, cl, st)
	if err != nil {
		return err
	}
	if err := createFiles(ctx, g, cl, files); err != nil {
		return err
	}
	changed, err := applyPlan(ctx, g, cl, plan, auth)
	if err != nil || d.Detach {
		return err
	}
	for _, c := range changed {
		if err := followService(g, cl, c.id, c.watch, d.Quiet); err != nil {
			return fmt.Errorf("service %s: %w", c.name, err)
		}
	}
	return nil
}

// changedService is a service a deploy created or updated, to follow.
type changedService struct {
	id, name string
	watch    watchSpec
}

// applyPlan applies plan in docker's order, printing docker's progress
// lines, and returns the services it created or updated.
func applyPlan(ctx context.Context, g *Globals, cl *api.Client, plan stack.Plan, auth func(image string) (string, error)) ([]changedService, error) {
	for _, n := range plan.CreateNetworks {
		fmt.Fprintf(g.Out, "Creating network %s\n", n.Name)
		if _, err := cl.NetworkCreate(ctx, api.NetworkCreateRequest{Name: n.Name, Subnet: n.Subnet, Labels: n.Labels}); err != nil {
			return nil, fmt.Errorf("create network %s: %w", n.Name, err)
		}
	}
	var changed []changedService
	for _, spec := range plan.Create {
		fmt.Fprintf(g.Out, "Creating service %s\n", spec.Name)
		ra, err := auth(spec.Task.Image)
		if err != nil {
			return changed, fmt.Errorf("create service %s: %w", spec.Name, err)
		}
		resp, err := cl.ServiceCreate(ctx, api.ServiceCreateRequest{Spec: spec, RegistryAuth: ra})
		if err != nil {
			return changed, fmt.Errorf("create service %s: %w", spec.Name, err)
		}
		warn(resp.Warnings)
		changed = append(changed, changedService{id: resp.ID, name: spec.Name, watch: watchSpec{Op: opCreate}})
	}
	for _, u := range plan.Update {
		fmt.Fprintf(g.Out, "Updating service %s (id: %s)\n", u.Spec.Name, u.ID)
		before, err := cl.Service(ctx, u.ID)
		if err != nil {
			return changed, fmt.Errorf("update service %s: %w", u.Spec.Name, err)
		}
		ra, err := auth(u.Spec.Task.Image)
		if err != nil {
			return changed, fmt.Errorf("update service %s: %w", u.Spec.Name, err)
		}
		resp, err := cl.ServiceUpdate(ctx, u.ID, api.ServiceUpdateRequest{Spec: u.Spec, Version: u.Version, Cause: "stack deploy", RegistryAuth: ra})
		if err != nil {
			return changed, fmt.Errorf("update service %s: %w", u.Spec.Name, err)
		}
		warn(resp.Warnings)
		changed = append(changed, changedService{id: u.ID, name: u.Spec.Name, watch: watchSpec{Op: opUpdate, Baseline: before.UpdateStatus}})
	}
	for _, s := range plan.Remove {
		fmt.Fprintf(g.Out, "Removing service %s\n", s.Spec.Name)
		if err := cl.ServiceRemove(ctx, s.ID); err != nil {
			return changed, fmt.Errorf("remove service %s: %w", s.Spec.Name, err)
		}
	}
	return changed, nil
}

// plainServices drops the API's task counts.
func plainServices(svcs []api.Service) []types.Service {
	out := make([]types.Service, len(svcs))
	for i, s := range svcs {
		out[i] = s.Service
	}
	return out
}

// stackFiles are the secrets and configs a deploy creates.
type stackFiles struct{ secrets, configs []stack.File }

// planFiles plans the stack's secrets and configs against the cluster's.
func planFiles(ctx context.Context, cl *api.Client, st stack.Stack) (stackFiles, error) {
	var out stackFiles
	secrets, configs, err := existingFiles(ctx, cl)
	if err != nil {
		return out, err
	}
	if out.secrets, err = stack.PlanFiles("secret", st.Name, st.Secrets, secrets); err != nil {
		return out, err
	}
	out.configs, err = stack.PlanFiles("config", st.Name, st.Configs, configs)
	return out, err
}

// existingFiles lists the cluster's secrets and configs by name and labels.
func existingFiles(ctx context.Context, cl *api.Client) (secrets, configs []stack.Existing, err error) {
	ss, err := cl.Secrets(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list secrets: %w", err)
	}
	for _, s := range ss {
		secrets = append(secrets, stack.Existing{Name: s.Spec.Name, Labels: s.Spec.Labels})
	}
	cs, err := cl.Configs(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list configs: %w", err)
	}
	for _, c := range cs {
		configs = append(configs, stack.Existing{Name: c.Spec.Name, Labels: c.Spec.Labels})
	}
	return secrets, configs, nil
}

// createFiles creates the planned secrets and configs, with docker's lines.
func createFiles(ctx context.Context, g *Globals, cl *api.Client, f stackFiles) error {
	for _, s := range f.secrets {
		fmt.Fprintf(g.Out, "Creating secret %s\n", s.Name)
		if _, err := cl.SecretCreate(ctx, api.FileCreateRequest{Name: s.Name, Labels: s.Labels, Data: s.Data}); err != nil {
			return fmt.Errorf("create secret %s: %w", s.Name, err)
		}
	}
	for _, c := range f.configs {
		fmt.Fprintf(g.Out, "Creating config %s\n", c.Name)
		if _, err := cl.ConfigCreate(ctx, api.FileCreateRequest{Name: c.Name, Labels: c.Labels, Data: c.Data}); err != nil {
			return fmt.Errorf("create config %s: %w", c.Name, err)
		}
	}
	return nil
}
