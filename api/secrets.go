package api

import (
	"context"
	"net/http"

	"github.com/shoal-org/shoal/api/types"
)

// FileKind names the two kinds of file objects: the API's paths and the
// CLI's words ("secret", "config").
type FileKind string

const (
	KindSecret FileKind = "secret"
	KindConfig FileKind = "config"
)

// FileCreateRequest creates a secret or a config (POST /v1/secrets,
// /v1/configs). Data is the payload (at most 500 KiB).
type FileCreateRequest struct {
	Name   string            `json:"Name"`
	Labels map[string]string `json:"Labels,omitempty"`
	Data   []byte            `json:"Data"`
}

// FileCreateResponse names the object created.
type FileCreateResponse struct {
	ID string `json:"ID"`
}

// FileUpdate changes the labels of a secret or config, the only thing
// that may change (as in docker: rotate a payload by creating a new one
// under another name). Version, when set, must be the object's current
// version (Meta.Version), else the update fails with a conflict.
type FileUpdate struct {
	Version uint64            `json:"Version,omitempty"`
	Labels  map[string]string `json:"Labels"`
}

// TaskSecretsRequest asks the leader for the payloads of the secrets of
// one task of the calling node (POST /v1/internal/task-secrets).
type TaskSecretsRequest struct {
	TaskID string `json:"TaskID"`
	// RegistryAuth asks instead for the account the task's image is
	// pulled with (its service's --with-registry-auth).
	RegistryAuth bool `json:"RegistryAuth,omitempty"`
}

// SecretPayload is one secret's payload, in plaintext: only ever sent over
// mutual TLS to the node that runs a task using it.
type SecretPayload struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
	Data []byte `json:"Data"`
}

// TaskSecretsResponse holds the payloads of a task's secrets.
type TaskSecretsResponse struct {
	Secrets []SecretPayload `json:"Secrets"`
	// RegistryAuth answers a request for it: nil when the service has
	// none.
	RegistryAuth *RegistryAuth `json:"RegistryAuth,omitempty"`
}

// RotateKeyResponse reports a rotation of the cluster's data key.
type RotateKeyResponse struct {
	KeyID    string `json:"KeyID"`
	Resealed int    `json:"Resealed"` // secrets sealed again under the new key
	Voters   int    `json:"Voters"`   // voters the new key was wrapped for at once
}

// Secrets is GET /v1/secrets: every secret, without payloads.
func (c *Client) Secrets(ctx context.Context) ([]types.Secret, error) {
	return call[[]types.Secret](ctx, c, http.MethodGet, "/v1/secrets", nil)
}

// Secret is GET /v1/secrets/{ref} (ID, name or unique ID prefix), without
// its payload.
func (c *Client) Secret(ctx context.Context, ref string) (types.Secret, error) {
	return call[types.Secret](ctx, c, http.MethodGet, "/v1/secrets/"+esc(ref), nil)
}

// SecretCreate is POST /v1/secrets.
func (c *Client) SecretCreate(ctx context.Context, req FileCreateRequest) (FileCreateResponse, error) {
	return call[FileCreateResponse](ctx, c, http.MethodPost, "/v1/secrets", req)
}

// SecretUpdate is POST /v1/secrets/{ref}/update: labels only.
func (c *Client) SecretUpdate(ctx context.Context, ref string, upd FileUpdate) error {
	return c.Do(ctx, http.MethodPost, "/v1/secrets/"+esc(ref)+"/update", upd, nil)
}

// SecretRemove is DELETE /v1/secrets/{ref}; refused while a service uses
// the secret.
func (c *Client) SecretRemove(ctx context.Context, ref string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/secrets/"+esc(ref), nil, nil)
}

// RotateDataKey is POST /v1/secrets/rotate-key: the leader makes a new
// data key, seals every secret again under it and wraps it for the voters.
func (c *Client) RotateDataKey(ctx context.Context) (RotateKeyResponse, error) {
	return call[RotateKeyResponse](ctx, c, http.MethodPost, "/v1/secrets/rotate-key", nil)
}

// Configs is GET /v1/configs: every config, with its data.
func (c *Client) Configs(ctx context.Context) ([]types.Config, error) {
	return call[[]types.Config](ctx, c, http.MethodGet, "/v1/configs", nil)
}

// Config is GET /v1/configs/{ref}.
func (c *Client) Config(ctx context.Context, ref string) (types.Config, error) {
	return call[types.Config](ctx, c, http.MethodGet, "/v1/configs/"+esc(ref), nil)
}

// ConfigCreate is POST /v1/configs.
func (c *Client) ConfigCreate(ctx context.Context, req FileCreateRequest) (FileCreateResponse, error) {
	return call[FileCreateResponse](ctx, c, http.MethodPost, "/v1/configs", req)
}

// ConfigUpdate is POST /v1/configs/{ref}/update: labels only.
func (c *Client) ConfigUpdate(ctx context.Context, ref string, upd FileUpdate) error {
	return c.Do(ctx, http.MethodPost, "/v1/configs/"+esc(ref)+"/update", upd, nil)
}

// ConfigRemove is DELETE /v1/configs/{ref}; refused while a service uses
// the config.
func (c *Client) ConfigRemove(ctx context.Context, ref string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/configs/"+esc(ref), nil, nil)
}

// TaskSecrets is POST /v1/internal/task-secrets, sent to the leader by the
// node that runs the task: the payloads of the task's secrets.
func (c *Client) TaskSecrets(ctx context.Context, req TaskSecretsRequest) (TaskSecretsResponse, error) {
	return call[TaskSecretsResponse](ctx, c, http.MethodPost, "/v1/internal/task-secrets", req)
}
