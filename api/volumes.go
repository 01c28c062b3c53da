package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Volume is a named volume on one node: a directory of the node's local
// driver, created by the first task there that mounts it and kept when the
// task goes. The same name on two nodes is two volumes.
type Volume struct {
	Name         string    `json:"Name"`
	Driver       string    `json:"Driver"` // always local
	Scope        string    `json:"Scope"`  // always local
	NodeID       string    `json:"NodeID"`
	NodeHostname string    `json:"NodeHostname"`
	Mountpoint   string    `json:"Mountpoint"`
	CreatedAt    time.Time `json:"CreatedAt,omitzero"`
	// UsedBy names the tasks whose containers on the node mount the
	// volume (SERVICE.SLOT.ID), running or not; a container the cluster
	// no longer knows is named by its ID.
	UsedBy []string `json:"UsedBy,omitempty"`
}

// VolumeList is GET /v1/volumes's answer: the volumes of every node that
// answered, sorted by name then node, and a warning for each node that
// did not (its volumes are missing from the list).
type VolumeList struct {
	Volumes  []Volume `json:"Volumes"`
	Warnings []string `json:"Warnings,omitempty"`
}

// VolumeOptions selects the nodes of a volume request: Node (a node ID,
// hostname or ID prefix) narrows it to one node, Local to the agent that
// answers (what one agent asks another).
type VolumeOptions struct {
	Node  string
	Local bool
}

func (o VolumeOptions) values() url.Values {
	q := url.Values{"node": {o.Node}}
	if o.Local {
		q.Set("local", "true")
	}
	return q
}

// VolumeRemoveResponse names the nodes the volume was removed from, and
// the nodes that could not be asked (they keep theirs, if they have it).
type VolumeRemoveResponse struct {
	Nodes    []string `json:"Nodes"`
	Warnings []string `json:"Warnings,omitempty"`
}

// Volumes is GET /v1/volumes.
func (c *Client) Volumes(ctx context.Context, o VolumeOptions) (VolumeList, error) {
	return call[VolumeList](ctx, c, http.MethodGet, withQuery("/v1/volumes", o.values()), nil)
}

// VolumeRemove is DELETE /v1/volumes/{name}: the volume goes from every
// node that has it (or o.Node), unless a task's container mounts it on
// any of them; then nothing is removed. Nodes that cannot be asked are
// named in the answer's warnings.
func (c *Client) VolumeRemove(ctx context.Context, name string, o VolumeOptions) (VolumeRemoveResponse, error) {
	return call[VolumeRemoveResponse](ctx, c, http.MethodDelete, withQuery("/v1/volumes/"+esc(name), o.values()), nil)
}
