package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
)

// errNoRuntime answers log and image requests on a node whose containerd is
// not connected.
var errNoRuntime = &fault.Error{Kind: fault.Unavailable, Msg: "this node's containerd is not connected (see the agent's log and --containerd)"}

// containerd returns this node's container runtime, or errNoRuntime.
func (cl *Cluster) containerd() (Runtime, error) {
	if rt := cl.Runtime(); rt != nil {
		return rt, nil
	}
	return nil, errNoRuntime
}

// ImageLoad imports an image archive into this node's containerd.
func (o *Ops) ImageLoad(ctx context.Context, archive io.Reader) (api.ImageLoadResponse, error) {
	cl, err := o.cluster()
	if err != nil {
		return api.ImageLoadResponse{}, err
	}
	rt, err := cl.containerd()
	if err != nil {
		return api.ImageLoadResponse{}, err
	}
	names, err := rt.ImportArchive(ctx, archive)
	if err != nil {
		return api.ImageLoadResponse{}, fault.Invalidf("load image archive: %v (expected an OCI archive, as `skopeo copy ... oci-archive:FILE` writes)", err)
	}
	return api.ImageLoadResponse{Images: names, Node: cl.NodeName}, nil
}

// ImageDistribution asks ref's registry, from this node and without
// pulling, what ref names now (for the Engine API's
// /distribution/{ref}/json, with which the docker CLI pins images).
func (o *Ops) ImageDistribution(ctx context.Context, ref string) (api.ImageDistribution, error) {
	cl, err := o.cluster()
	if err != nil {
		return api.ImageDistribution{}, err
	}
	rt, err := cl.containerd()
	if err != nil {
		return api.ImageDistribution{}, err
	}
	desc, plats, err := rt.Distribution(ctx, ref)
	if errors.Is(err, runtime.ErrImageNotFound) {
		return api.ImageDistribution{}, &fault.Error{Kind: fault.NotFound, Msg: err.Error()}
	}
	if err != nil {
		return api.ImageDistribution{}, &fault.Error{Kind: fault.Upstream, Msg: err.Error()}
	}
	out := api.ImageDistribution{MediaType: desc.MediaType, Digest: desc.Digest.String(), Size: desc.Size}
	for _, p := range plats {
		out.Platforms = append(out.Platforms, types.Platform{OS: p.OS, Architecture: p.Architecture})
	}
	return out, nil
}

// RegistryLogin checks an account of a registry from this node, as
// `docker login` asks the engine to: the registry must accept it.
func (o *Ops) RegistryLogin(ctx context.Context, auth api.RegistryAuth) error {
	cl, err := o.cluster()
	if err != nil {
		return err
	}
	rt, err := cl.containerd()
	if err != nil {
		return err
	}
	host := registryHost(auth.ServerAddress)
	if host == "" {
		return fault.Invalidf("log in to which registry? give its address (docker login HOST[:PORT])")
	}
	err = rt.CheckLogin(ctx, host, runtime.Credential{User: auth.Username, Password: auth.Password, IdentityToken: auth.IdentityToken})
	switch {
	case errors.Is(err, runtime.ErrUnauthorized):
		return &fault.Error{Kind: fault.Unauthenticated, Msg: fmt.Sprintf("login to %s: unauthorized: incorrect username or password", host)}
	case errors.Is(err, runtime.ErrRegistryUnreachable):
		return fault.New(fault.Upstream, "login to %s: %v", host, err)
	}
	return err
}

// registryHost is the host[:port] of a docker login server address
// ("https://index.docker.io/v1/" is Docker Hub's registry).
func registryHost(addr string) string {
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "https://"), "http://")
	addr, _, _ = strings.Cut(addr, "/")
	if addr == "index.docker.io" || addr == "docker.io" {
		return "registry-1.docker.io"
	}
	return addr
}
