package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/agent/worker"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/keyring"
	"github.com/shoal-org/shoal/store"
)

// Delivery of secrets and configs to tasks. The node that runs a task
// asks the leader, over mutual TLS, for the payloads of the task's
// secrets (TaskSecrets checks that the calling node runs the task); a
// config's data is in every replica. The files go into a directory of the
// task's own (0700) under Config.SecretsDir, an in-memory filesystem, and
// the runtime bind-mounts each one read-only at its target. The directory
// goes when the worker releases the task.

// TaskSecrets hands the payloads of task req.TaskID's secrets to node, the
// node that runs it. Leader only: a follower refuses (the worker asks the
// leader itself), so that what authorises the call is the certificate of
// the node that made it, never of one that forwarded it.
func (a *Agent) TaskSecrets(ctx context.Context, node string, req api.TaskSecretsRequest) (api.TaskSecretsResponse, error) {
	cl, err := a.cluster()
	if err != nil {
		return api.TaskSecretsResponse{}, err
	}
	if !cl.isLeader() {
		return api.TaskSecretsResponse{}, fault.Unavailablef("this agent is not the leader: ask the leader for task secrets")
	}
	v := cl.store.View()
	t := v.Task(req.TaskID)
	switch {
	case t == nil:
		return api.TaskSecretsResponse{}, fault.New(fault.NotFound, "task %s not found", req.TaskID)
	case t.NodeID != node:
		cl.log.Warn("task secrets refused: the task runs on another node", "task", t.ID, "caller", node)
		return api.TaskSecretsResponse{}, fault.New(fault.Forbidden, "task %s is not assigned to node %s: its secrets go to its own node only", t.ID, node)
	case t.DesiredState != types.TaskRunning:
		return api.TaskSecretsResponse{}, fault.New(fault.Forbidden, "task %s is no longer wanted running: its secrets are not handed out", t.ID)
	}
	resp := api.TaskSecretsResponse{Secrets: []api.SecretPayload{}}
	if req.RegistryAuth {
		resp.RegistryAuth, err = cl.openRegistryAuth(ctx, v.Service(t.ServiceID))
		return resp, err
	}
	if len(t.Spec.Secrets) == 0 {
		return resp, nil
	}
	dk, _, err := cl.dataKey(ctx)
	if err != nil {
		return resp, err
	}
	for _, r := range t.Spec.Secrets {
		s := v.SecretByName(r.Name)
		if s == nil || s.Sealed == nil {
			return resp, fault.New(fault.NotFound, "secret %q of task %s not found", r.Name, t.ID)
		}
		data, err := openSealed(s.Sealed, dk, s.ID, fmt.Sprintf("secret %q", r.Name))
		if err != nil {
			return resp, err
		}
		resp.Secrets = append(resp.Secrets, api.SecretPayload{ID: s.ID, Name: s.Spec.Name, Data: data})
	}
	return resp, nil
}

// openRegistryAuth opens svc's registry account (nil when it has none).
func (cl *cluster) openRegistryAuth(ctx context.Context, svc *types.Service) (*api.RegistryAuth, error) {
	if svc == nil || svc.RegistryAuth == nil {
		return nil, nil
	}
	dk, _, err := cl.dataKey(ctx)
	if err != nil {
		return nil, err
	}
	data, err := openSealed(svc.RegistryAuth, dk, svc.ID, fmt.Sprintf("the registry account of service %q", svc.Spec.Name))
	if err != nil {
		return nil, fmt.Errorf("%w: update the service with --with-registry-auth", err)
	}
	var auth api.RegistryAuth
	if err := json.Unmarshal(data, &auth); err != nil {
		return nil, fmt.Errorf("the registry account of service %q: %w", svc.Spec.Name, err)
	}
	return &auth, nil
}

// seal is control's Seal: data sealed with the cluster's data key, which
// is made (and stored, in a command of its own) if the cluster has none.
// It holds the key's lock (which RotateDataKey takes too) until release.
func (cl *cluster) seal(ctx context.Context, data, aad []byte) (*types.Sealed, func(), error) {
	cl.dek.create.Lock()
	var once sync.Once
	release := func() { once.Do(cl.dek.create.Unlock) }
	dk, ops, err := cl.dataKey(ctx)
	if err != nil {
		release()
		return nil, func() {}, err
	}
	if len(ops) > 0 {
		if _, err := cl.apply(ctx, store.Command{Ops: ops}); err != nil {
			release()
			return nil, func() {}, fmt.Errorf("store the cluster's new data key: %w", err)
		}
	}
	nonce, ct, err := keyring.Seal(dk.Key, data, aad)
	if err != nil {
		release()
		return nil, func() {}, err
	}
	return &types.Sealed{KeyID: dk.ID, Nonce: nonce, Ciphertext: ct}, release, nil
}

// pullAuth is the worker's PullAuth hook: the registry account of t's
// service, from the leader, when the service has one.
func (cl *cluster) pullAuth(ctx context.Context, t *types.Task) (*runtime.Credential, error) {
	svc := cl.store.View().Service(t.ServiceID)
	if svc == nil || svc.RegistryAuth == nil {
		return nil, nil
	}
	resp, err := cl.fetchTaskSecrets(ctx, api.TaskSecretsRequest{TaskID: t.ID, RegistryAuth: true})
	if err != nil {
		return nil, err
	}
	a := resp.RegistryAuth
	if a == nil {
		return nil, nil
	}
	return &runtime.Credential{User: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}, nil
}

// fileHooks installs the worker's Files hook and a Release that removes a
// task's files (networkHooks adds the network's release to it).
func (cl *cluster) fileHooks(cfg *worker.Config) {
	cfg.Files = cl.taskFiles
	cfg.PullAuth = cl.pullAuth
	cfg.Release = func(_ context.Context, id string) error { return cl.removeTaskFiles(id) }
	cfg.Leftovers = cl.taskFileDirs
}

// taskFilesDir is where task id's files go.
func (cl *cluster) taskFilesDir(id string) string { return filepath.Join(cl.a.cfg.SecretsDir, id) }

// taskFiles writes t's secrets and configs into its directory and returns
// their read-only bind mounts.
func (cl *cluster) taskFiles(ctx context.Context, t *types.Task) ([]types.Mount, error) {
	if len(t.Spec.Secrets) == 0 && len(t.Spec.Configs) == 0 {
		return nil, nil
	}
	if err := ensureTmpfs(cl.a.cfg.SecretsDir); err != nil {
		return nil, err
	}
	dir := cl.taskFilesDir(t.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("task files: %w", err)
	}
	var payloads []api.SecretPayload
	if len(t.Spec.Secrets) > 0 {
		resp, err := cl.fetchTaskSecrets(ctx, api.TaskSecretsRequest{TaskID: t.ID})
		if err != nil {
			return nil, fmt.Errorf("get the task's secrets from the leader: %w", err)
		}
		payloads = resp.Secrets
	}
	var mounts []types.Mount
	for i, r := range t.Spec.Secrets {
		data, ok := payloadOf(payloads, r.Name)
		if !ok {
			return nil, fmt.Errorf("the leader sent no payload for secret %q", r.Name)
		}
		m, err := writeTaskFile(filepath.Join(dir, "secret-"+strconv.Itoa(i)), data, r)
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", r.Name, err)
		}
		mounts = append(mounts, m)
	}
	v := cl.store.View()
	for i, r := range t.Spec.Configs {
		c := v.ConfigByName(r.Name)
		if c == nil {
			return nil, fmt.Errorf("config %q not found", r.Name)
		}
		m, err := writeTaskFile(filepath.Join(dir, "config-"+strconv.Itoa(i)), c.Spec.Data, r)
		if err != nil {
			return nil, fmt.Errorf("config %q: %w", r.Name, err)
		}
		mounts = append(mounts, m)
	}
	return mounts, nil
}

func payloadOf(ps []api.SecretPayload, name string) ([]byte, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p.Data, true
		}
	}
	return nil, false
}

// fetchTaskSecrets asks the leader (this agent, when it leads) for a
// task's secrets, or its registry account.
func (cl *cluster) fetchTaskSecrets(ctx context.Context, req api.TaskSecretsRequest) (api.TaskSecretsResponse, error) {
	if cl.isLeader() {
		return cl.a.TaskSecrets(ctx, cl.id.NodeID, req)
	}
	c, err := cl.leaderClient()
	if err != nil {
		return api.TaskSecretsResponse{}, err
	}
	return c.TaskSecrets(ctx, req)
}

// writeTaskFile writes data to path with r's owner and mode and returns
// its read-only bind mount at r's target.
func writeTaskFile(path string, data []byte, r types.FileRef) (types.Mount, error) {
	uid, err1 := strconv.Atoi(r.UID)
	gid, err2 := strconv.Atoi(r.GID)
	if err := errors.Join(err1, err2); err != nil {
		return types.Mount{}, fmt.Errorf("owner %s:%s: %w", r.UID, r.GID, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return types.Mount{}, err
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Chown(uid, gid), f.Chmod(os.FileMode(r.Mode)), f.Close())
	if err != nil {
		return types.Mount{}, fmt.Errorf("write %s: %w", path, err)
	}
	return types.Mount{Type: "bind", Source: path, Target: r.Target, ReadOnly: true}, nil
}

// removeTaskFiles removes task id's files; nothing to remove is fine.
func (cl *cluster) removeTaskFiles(id string) error {
	if id == "" || filepath.Base(id) != id || id == "." || id == ".." {
		return nil
	}
	if err := os.RemoveAll(cl.taskFilesDir(id)); err != nil {
		return fmt.Errorf("remove files of task %s: %w", id, err)
	}
	return nil
}

// taskFileDirs names the tasks that have a files directory (an agent that
// stopped may have left some).
func (cl *cluster) taskFileDirs() []string {
	ents, err := os.ReadDir(cl.a.cfg.SecretsDir)
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

// tmpfsChecked remembers directories known to be in memory.
var tmpfsChecked sync.Map

// ensureTmpfs makes sure dir is on an in-memory filesystem, so that no
// payload ever reaches a disk: it accepts a tmpfs or ramfs (such as /run),
// and otherwise mounts a tmpfs of its own there (mode 0700).
func ensureTmpfs(dir string) error {
	if _, ok := tmpfsChecked.Load(dir); ok {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secrets directory: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("secrets directory %s: %w", dir, err)
	}
	if st.Type != unix.TMPFS_MAGIC && st.Type != unix.RAMFS_MAGIC {
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700,size=64m"); err != nil {
			return fmt.Errorf("secrets directory %s is not in memory and mounting a tmpfs there failed: %w (run the agent as root, or put --api-socket's directory on a tmpfs such as /run)", dir, err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("secrets directory: %w", err)
	}
	tmpfsChecked.Store(dir, true)
	return nil
}
