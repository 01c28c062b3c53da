package api

import (
	"net/url"
	"strconv"
	"time"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/logrec"
)

// Service endpoints (all JSON; errors are api.Error with a message a user can act on):
//
//	POST   /v1/services                      ServiceCreateRequest → ServiceCreateResponse
//	GET    /v1/services                      → []Service
//	GET    /v1/services/{ref}                → Service        (ref: ID, name or unique ID prefix)
//	POST   /v1/services/{ref}/update         ServiceUpdateRequest → ServiceUpdateResponse
//	POST   /v1/services/{ref}/rollback       ServiceRollbackRequest → ServiceUpdateResponse
//	DELETE /v1/services/{ref}
//	GET    /v1/services/{ref}/history        → []store.Revision
//	GET    /v1/tasks?service=REF             → []Task (all tasks of the service, history included)
//	GET    /v1/tasks/{id}                    → Task
//	GET    /v1/services/{ref}/logs?tail=N&follow=true   → text stream, one line per log line, prefixed "TASKNAME@NODE    | "
//	GET    /v1/tasks/{id}/logs?tail=N&follow=true       → same for one task
//	POST   /v1/images/load                   body: an OCI archive → ImageLoadResponse (loads on the answering node)

// ServiceCreateRequest creates a service.
type ServiceCreateRequest struct {
	Spec types.ServiceSpec `json:"Spec"`
	// RegistryAuth is the account the nodes pull the service's image with
	// (docker's X-Registry-Auth value; see DecodeRegistryAuth). It is
	// sealed with the cluster's data key, as a secret is, and never shown.
	RegistryAuth string `json:"RegistryAuth,omitempty"`
}

// ServiceCreateResponse names the new service.
type ServiceCreateResponse struct {
	ID       string   `json:"ID"`
	Warnings []string `json:"Warnings,omitempty"`
}

// ServiceUpdateRequest replaces a service's spec. Version is the service's
// Meta.Version the client read; a concurrent change makes the update fail
// with a conflict instead of silently losing one of them. Cause is kept in
// the revision history ("update --image web:v2").
type ServiceUpdateRequest struct {
	Spec    types.ServiceSpec `json:"Spec"`
	Version uint64            `json:"Version"`
	Cause   string            `json:"Cause,omitempty"`
	// RegistryAuth replaces the service's registry account; empty keeps
	// the one it has (as docker's update without --with-registry-auth).
	RegistryAuth string `json:"RegistryAuth,omitempty"`
}

// ServiceRollbackRequest goes back to the previous spec, or to a revision.
type ServiceRollbackRequest struct {
	ToRevision uint64 `json:"ToRevision,omitempty"`
}

// ServiceUpdateResponse reports the new spec version.
type ServiceUpdateResponse struct {
	SpecVersion uint64   `json:"SpecVersion"`
	Warnings    []string `json:"Warnings,omitempty"`
}

// Service is a stored service plus task counts for `service ls`.
type Service struct {
	types.Service
	// RunningTasks counts tasks observed running (and healthy, when the
	// service has a healthcheck); DesiredTasks is what the spec asks for
	// (replicas, or eligible nodes for a global service).
	RunningTasks uint64 `json:"RunningTasks"`
	DesiredTasks uint64 `json:"DesiredTasks"`
	// Freshness says whether the counts come from a replica a live leader
	// confirmed, or from the answering agent's last copy.
	Freshness
	// WithRegistryAuth: the nodes pull the image with an account the
	// service was given (which is never shown).
	WithRegistryAuth bool `json:"WithRegistryAuth,omitempty"`
}

// Task is a stored task plus the hostname of its node for `service ps`.
type Task struct {
	types.Task
	NodeHostname string `json:"NodeHostname"`
}

// ImageDistribution is what an image's registry says a reference names
// now: its manifest's (or index's) descriptor and the platforms it offers.
type ImageDistribution struct {
	MediaType string           `json:"MediaType"`
	Digest    string           `json:"Digest"`
	Size      int64            `json:"Size"`
	Platforms []types.Platform `json:"Platforms,omitempty"`
}

// ImageLoadResponse lists the images an archive contained.
type ImageLoadResponse struct {
	Images []string `json:"Images"`
	// Node is the node that loaded them (images are per node).
	Node string `json:"Node"`
}

// Network endpoints:
//
//	POST   /v1/networks            NetworkCreateRequest → NetworkCreateResponse
//	GET    /v1/networks            → []store.Network
//	GET    /v1/networks/{ref}      → store.Network   (ref: ID, name or unique ID prefix)
//	DELETE /v1/networks/{ref}

// NetworkCreateRequest creates an overlay network. An empty Subnet takes
// the next free /24 of 10.241.0.0/16.
type NetworkCreateRequest struct {
	Name   string            `json:"Name"`
	Subnet string            `json:"Subnet,omitempty"`
	Labels map[string]string `json:"Labels,omitempty"`
}

// NetworkCreateResponse names the new network.
type NetworkCreateResponse struct {
	ID string `json:"ID"`
}

// LogOptions select the lines of GET /v1/services/{ref}/logs and
// /v1/tasks/{ref}/logs.
type LogOptions struct {
	Tail   int  // the last Tail lines of each task; -1 for all
	Follow bool // keep streaming until the client goes away
	Local  bool // only this node's log of a task, as records (an agent asking another)
	// Timestamps puts the time each line was written before it.
	Timestamps bool
	// Since and Until keep the lines written in [Since, Until); zero is
	// unbounded.
	Since, Until time.Time
	// NoStdout and NoStderr leave out a stream.
	NoStdout, NoStderr bool
}

// Values is o as the query of a log request.
func (o LogOptions) Values() url.Values {
	q := url.Values{"tail": {strconv.Itoa(o.Tail)}}
	if o.Tail < 0 {
		q.Set("tail", "all")
	}
	for k, on := range map[string]bool{"follow": o.Follow, "local": o.Local, "timestamps": o.Timestamps,
		"no-stdout": o.NoStdout, "no-stderr": o.NoStderr} {
		if on {
			q.Set(k, "true")
		}
	}
	if o.Local {
		// An agent of an earlier version, not knowing the format, answers
		// with plain text, which the records' reader also takes.
		q.Set("format", "records")
	}
	for k, t := range map[string]time.Time{"since": o.Since, "until": o.Until} {
		if !t.IsZero() {
			q.Set(k, t.UTC().Format(time.RFC3339Nano))
		}
	}
	return q
}

// LogLine is one line of a task's log as the operations hand it to the
// API: the task it comes from, and the record (its time and stream).
type LogLine struct {
	// Task is the task's name, SERVICE.SLOT.ID (SERVICE.NODE.ID for a
	// global service's).
	Task                                string
	TaskID, ServiceID, NodeID, NodeName string
	logrec.Record
}
