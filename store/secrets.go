package store

import (
	"fmt"
	"strings"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/shoal-org/shoal/api/types"
)

// Secret returns the secret with the given ID, or nil. Its Sealed payload
// is for the leader's delivery only: never return it to a user.
func (v *View) Secret(id string) *types.Secret {
	return first[types.Secret](v, TableSecrets, idxID, id)
}

// SecretByName returns the secret with the given name, or nil.
func (v *View) SecretByName(name string) *types.Secret {
	return first[types.Secret](v, TableSecrets, idxName, name)
}

// Secrets returns every secret, sorted by name.
func (v *View) Secrets() []*types.Secret { return list[types.Secret](v, TableSecrets, idxName) }

// FindSecret resolves a reference to a secret: exact ID, exact name, then
// unique ID prefix. Errors as for FindNode.
func (v *View) FindSecret(ref string) (*types.Secret, error) {
	return find(v, TableSecrets, ref, func(name string) []*types.Secret { return optional(v.SecretByName(name)) })
}

// Config returns the config with the given ID, or nil.
func (v *View) Config(id string) *types.Config {
	return first[types.Config](v, TableConfigs, idxID, id)
}

// ConfigByName returns the config with the given name, or nil.
func (v *View) ConfigByName(name string) *types.Config {
	return first[types.Config](v, TableConfigs, idxName, name)
}

// Configs returns every config, sorted by name.
func (v *View) Configs() []*types.Config { return list[types.Config](v, TableConfigs, idxName) }

// FindConfig resolves a reference to a config like FindSecret.
func (v *View) FindConfig(ref string) (*types.Config, error) {
	return find(v, TableConfigs, ref, func(name string) []*types.Config { return optional(v.ConfigByName(name)) })
}

// WrappedKey returns the data key wrapped for node nodeID, or nil.
func (v *View) WrappedKey(nodeID string) *types.WrappedKey {
	return first[types.WrappedKey](v, TableKeys, idxID, nodeID)
}

// WrappedKeys returns every wrapped copy of the data key, sorted by node ID.
func (v *View) WrappedKeys() []*types.WrappedKey { return list[types.WrappedKey](v, TableKeys, idxID) }

// ServicesUsing returns the names of the services whose spec names the
// secret (secret=true) or config called name, in name order.
func (v *View) ServicesUsing(secret bool, name string) []string {
	return servicesUsing(v.Services(), secret, name)
}

func servicesUsing(svcs []*types.Service, secret bool, name string) []string {
	var out []string
	for _, s := range svcs {
		refs := s.Spec.Task.Configs
		if secret {
			refs = s.Spec.Task.Secrets
		}
		for _, r := range refs {
			if r.Name == name {
				out = append(out, s.Spec.Name)
				break
			}
		}
	}
	return out
}

// checkFileRefs refuses a service whose spec names a secret or config that
// does not exist (or whose recorded ID is not that object's), so that no
// write can leave a service pointing at nothing.
func checkFileRefs(txn *memdb.Txn, obj object) error {
	svc, ok := obj.(*types.Service)
	if !ok {
		return nil
	}
	for _, k := range []struct {
		table Table
		refs  []types.FileRef
	}{{TableSecrets, svc.Spec.Task.Secrets}, {TableConfigs, svc.Spec.Task.Configs}} {
		for _, r := range k.refs {
			raw, err := txn.First(string(k.table), idxName, r.Name)
			if err != nil {
				return errorf(ErrInvalid, "look up %s %q: %v", k.table.noun(), r.Name, err)
			}
			if raw == nil || (r.ID != "" && keyOf(raw) != r.ID) {
				return errorf(ErrNotFound, "service %q: %s %q not found: create it with `agentctl %s create %s FILE` first",
					svc.Spec.Name, k.table.noun(), r.Name, k.table.noun(), r.Name)
			}
		}
	}
	return nil
}

// checkUnused refuses to delete a secret or config that a service uses.
func checkUnused(txn *memdb.Txn, obj object) error {
	var (
		secret bool
		name   string
		noun   string
	)
	switch o := obj.(type) {
	case *types.Secret:
		secret, name, noun = true, o.Spec.Name, "secret"
	case *types.Config:
		name, noun = o.Spec.Name, "config"
	default:
		return nil
	}
	users := (&View{txn: txn}).ServicesUsing(secret, name)
	if len(users) == 0 {
		return nil
	}
	return errorf(ErrInUse, "%s %q is in use by service %s: remove it from them first (`agentctl service update --%s-rm %s SERVICE`) or remove the services",
		noun, name, quoteList(users), noun, name)
}

// quoteList is `"a", "b"`.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
