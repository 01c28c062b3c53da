package engineapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/volume"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/fault"
)

// Volumes, as docker's engine shows them: the answering node's own (the
// local driver's scope), so `docker volume ls` against a node lists that
// node's volumes, as it does against a swarm node. `agentctl volume ls`
// gathers every node's.

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r.URL.Query().Get("filters"), "dangling", "driver", "label", "name")
	if err != nil {
		return err
	}
	list, err := s.b.Volumes(r.Context(), api.VolumeOptions{Local: true})
	if err != nil {
		return err
	}
	out := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: list.Warnings}
	for _, v := range list.Volumes {
		dangling := len(v.UsedBy) == 0
		if f.any("name", func(n string) bool { return strings.Contains(v.Name, n) }) &&
			f.any("driver", func(d string) bool { return d == v.Driver }) &&
			f.labels("label", nil) &&
			f.any("dangling", func(d string) bool { return (d == "true" || d == "1") == dangling }) {
			out.Volumes = append(out.Volumes, *dockerVolume(v))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) error {
	v, err := s.localVolume(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, dockerVolume(v))
}

// volumeRemove removes the volume from this node; ?force=1 makes a missing
// one no error, as docker's does.
func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request) error {
	_, err := s.b.VolumeRemove(r.Context(), r.PathValue("name"), api.VolumeOptions{Local: true})
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	if e, ok := fault.As(err); ok && e.Kind == fault.NotFound && force {
		err = nil
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) volumeCreate(http.ResponseWriter, *http.Request) error {
	return fault.New(fault.NotImplemented, "POST /volumes/create is not served by shoal: a node makes a named volume when the first task there mounts it (docker service create --mount type=volume,source=NAME,target=/PATH)")
}

// localVolume is this node's volume named in the path.
func (s *Server) localVolume(r *http.Request) (api.Volume, error) {
	name := r.PathValue("name")
	list, err := s.b.Volumes(r.Context(), api.VolumeOptions{Local: true})
	if err != nil {
		return api.Volume{}, err
	}
	for _, v := range list.Volumes {
		if v.Name == name {
			return v, nil
		}
	}
	return api.Volume{}, &fault.Error{Kind: fault.NotFound, Msg: "get " + name + ": no such volume on this node (agentctl volume ls lists every node's)"}
}

// dockerVolume is v as docker's engine describes a local volume; Status
// names the node and the tasks that use it.
func dockerVolume(v api.Volume) *volume.Volume {
	dv := &volume.Volume{Name: v.Name, Driver: v.Driver, Scope: v.Scope, Mountpoint: v.Mountpoint,
		Labels: map[string]string{}, Options: map[string]string{},
		Status: map[string]any{"Node": v.NodeHostname}}
	if !v.CreatedAt.IsZero() {
		dv.CreatedAt = v.CreatedAt.Format(time.RFC3339)
	}
	if len(v.UsedBy) > 0 {
		dv.Status["UsedBy"] = strings.Join(v.UsedBy, ",")
	}
	return dv
}
