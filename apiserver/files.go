package apiserver

import (
	"context"
	"net/http"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/pki"
)

// FileBackend is the Backend's part for secrets and configs. No read
// returns a secret's payload (Secret.Sealed is nil in what it returns);
// only TaskSecrets hands payloads out, to the node that runs the task.
type FileBackend interface {
	Secrets(ctx context.Context) ([]types.Secret, error)
	Secret(ctx context.Context, ref string) (types.Secret, error)
	Configs(ctx context.Context) ([]types.Config, error)
	Config(ctx context.Context, ref string) (types.Config, error)
	FileCreate(ctx context.Context, kind api.FileKind, req api.FileCreateRequest) (api.FileCreateResponse, error)
	FileUpdate(ctx context.Context, kind api.FileKind, ref string, upd api.FileUpdate) error
	FileRemove(ctx context.Context, kind api.FileKind, ref string) error
	// RotateDataKey replaces the cluster's data key (leader).
	RotateDataKey(ctx context.Context) (api.RotateKeyResponse, error)
	// TaskSecrets runs on the leader only (it is never forwarded: the
	// caller's node certificate is what authorises it): the payloads of
	// the secrets of task req.TaskID, if node runs that task.
	TaskSecrets(ctx context.Context, node string, req api.TaskSecretsRequest) (api.TaskSecretsResponse, error)
}

// fileRoutes registers the secret and config endpoints.
func (s *Server) fileRoutes(handle, write func(string, handler)) {
	handle("GET /v1/secrets", func(w http.ResponseWriter, r *http.Request) error {
		out, err := s.b.Secrets(r.Context())
		return answer(w, http.StatusOK, out, err)
	})
	handle("GET /v1/secrets/{ref}", func(w http.ResponseWriter, r *http.Request) error {
		out, err := s.b.Secret(r.Context(), r.PathValue("ref"))
		return answer(w, http.StatusOK, out, err)
	})
	handle("GET /v1/configs", func(w http.ResponseWriter, r *http.Request) error {
		out, err := s.b.Configs(r.Context())
		return answer(w, http.StatusOK, out, err)
	})
	handle("GET /v1/configs/{ref}", func(w http.ResponseWriter, r *http.Request) error {
		out, err := s.b.Config(r.Context(), r.PathValue("ref"))
		return answer(w, http.StatusOK, out, err)
	})
	write("POST /v1/secrets/rotate-key", func(w http.ResponseWriter, r *http.Request) error {
		resp, err := s.b.RotateDataKey(r.Context())
		return answer(w, http.StatusOK, resp, err)
	})
	for _, kind := range []api.FileKind{api.KindSecret, api.KindConfig} {
		base := "/v1/" + string(kind) + "s"
		write("POST "+base, func(w http.ResponseWriter, r *http.Request) error {
			req, err := decoded[api.FileCreateRequest](r)
			if err != nil {
				return err
			}
			resp, err := s.b.FileCreate(r.Context(), kind, req)
			return answer(w, http.StatusCreated, resp, err)
		})
		write("POST "+base+"/{ref}/update", func(w http.ResponseWriter, r *http.Request) error {
			upd, err := decoded[api.FileUpdate](r)
			if err != nil {
				return err
			}
			return empty(w, s.b.FileUpdate(r.Context(), kind, r.PathValue("ref"), upd))
		})
		write("DELETE "+base+"/{ref}", func(w http.ResponseWriter, r *http.Request) error {
			return empty(w, s.b.FileRemove(r.Context(), kind, r.PathValue("ref")))
		})
	}
}

// taskSecrets serves POST /v1/internal/task-secrets (TCP only, node
// certificates only: see requireClientCert).
func (s *Server) taskSecrets(w http.ResponseWriter, r *http.Request) error {
	node, ok := pki.VerifiedNodeID(r.TLS)
	if !ok {
		return fault.New(fault.Forbidden, "task secrets are for the node that runs the task: present its node certificate")
	}
	req, err := decoded[api.TaskSecretsRequest](r)
	if err != nil {
		return err
	}
	resp, err := s.b.TaskSecrets(r.Context(), node, req)
	return answer(w, http.StatusOK, resp, err)
}
