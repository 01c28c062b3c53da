package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestEndpointRoutes: each typed method sends its method, path and query,
// and decodes the answer.
func TestEndpointRoutes(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Method + " " + r.URL.RequestURI()
		if r.URL.Path == "/v1/events" {
			w.Write([]byte(`{"Type":"service","Action":"create","ID":"s1","Name":"web"}` + "\n"))
			return
		}
		if strings.HasSuffix(r.URL.Path, "s") && r.Method == http.MethodGet || strings.HasSuffix(r.URL.Path, "/limits") ||
			strings.HasSuffix(r.URL.Path, "/members") || strings.HasSuffix(r.URL.Path, "/history") {
			w.Write([]byte("[]"))
			return
		}
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	c := NewHTTPClient(srv.URL, srv.Client())
	ctx := context.Background()
	tail := LogOptions{Tail: 5}
	cases := []struct {
		want string
		call func() error
	}{
		{"GET /v1/info", func() error { _, err := c.Info(ctx); return err }},
		{"GET /v1/members", func() error { _, err := c.Members(ctx); return err }},
		{"POST /v1/cluster/init", func() error { _, err := c.ClusterInit(ctx, InitRequest{}); return err }},
		{"POST /v1/cluster/join", func() error { _, err := c.ClusterJoin(ctx, JoinRequest{}); return err }},
		{"POST /v1/cluster/leave", func() error { return c.ClusterLeave(ctx) }},
		{"GET /v1/cluster/join-token", func() error { _, err := c.JoinToken(ctx); return err }},
		{"POST /v1/cluster/join-token/rotate", func() error { _, err := c.RotateJoinToken(ctx); return err }},
		{"POST /v1/cluster/certs", func() error { _, err := c.SignClientCert(ctx, CertRequest{}); return err }},
		{"GET /v1/events?since=2026-12-04T10%3A00%3A00Z&type=service", func() error {
			var seen []string
			err := c.Events(ctx, time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC), time.Time{}, []string{"service"},
				func(e Event) error { seen = append(seen, e.Type+" "+e.Action+" "+e.Name); return nil })
			if err == nil && (len(seen) != 1 || seen[0] != "service create web") {
				err = fmt.Errorf("events read %q", seen)
			}
			return err
		}},
		{"GET /v1/cluster/limits", func() error { _, err := c.Limits(ctx); return err }},
		{"PUT /v1/cluster/limits", func() error { _, err := c.UpdateLimits(ctx, LimitsUpdate{}); return err }},
		{"POST /v1/images/load", func() error { _, err := c.ImageLoad(ctx, strings.NewReader("x")); return err }},
		{"GET /v1/nodes", func() error { _, err := c.Nodes(ctx); return err }},
		{"GET /v1/nodes/n%2F1", func() error { _, err := c.Node(ctx, "n/1"); return err }},
		{"POST /v1/nodes/n1/update", func() error { _, err := c.NodeUpdate(ctx, "n1", NodeUpdate{}); return err }},
		{"DELETE /v1/nodes/n1?force=true", func() error { return c.NodeRemove(ctx, "n1", true) }},
		{"DELETE /v1/nodes/n1", func() error { return c.NodeRemove(ctx, "n1", false) }},
		{"GET /v1/services", func() error { _, err := c.Services(ctx); return err }},
		{"GET /v1/services/web", func() error { _, err := c.Service(ctx, "web"); return err }},
		{"POST /v1/services", func() error { _, err := c.ServiceCreate(ctx, ServiceCreateRequest{}); return err }},
		{"POST /v1/services/s1/update", func() error { _, err := c.ServiceUpdate(ctx, "s1", ServiceUpdateRequest{}); return err }},
		{"POST /v1/services/s1/rollback", func() error { _, err := c.ServiceRollback(ctx, "s1", ServiceRollbackRequest{}); return err }},
		{"DELETE /v1/services/web", func() error { return c.ServiceRemove(ctx, "web") }},
		{"GET /v1/services/s1/history", func() error { _, err := c.ServiceHistory(ctx, "s1"); return err }},
		{"GET /v1/services/s1/logs?tail=5", func() error { b, err := c.ServiceLogs(ctx, "s1", tail); closeIf(b); return err }},
		{"GET /v1/tasks?service=s1", func() error { _, err := c.Tasks(ctx, "s1"); return err }},
		{"GET /v1/tasks", func() error { _, err := c.Tasks(ctx, ""); return err }},
		{"GET /v1/tasks/t1", func() error { _, err := c.Task(ctx, "t1"); return err }},
		{"GET /v1/tasks/t1/logs?follow=true&tail=all", func() error {
			b, err := c.TaskLogs(ctx, "t1", LogOptions{Tail: -1, Follow: true})
			closeIf(b)
			return err
		}},
		{"GET /v1/networks", func() error { _, err := c.Networks(ctx); return err }},
		{"GET /v1/networks/back", func() error { _, err := c.Network(ctx, "back"); return err }},
		{"POST /v1/networks", func() error { _, err := c.NetworkCreate(ctx, NetworkCreateRequest{}); return err }},
		{"DELETE /v1/networks/back", func() error { return c.NetworkRemove(ctx, "back") }},
		{"POST /v1/internal/admit", func() error { _, err := c.Admit(ctx, AdmitRequest{}); return err }},
		{"GET /v1/internal/read-index", func() error { _, err := c.ReadIndex(ctx); return err }},
		{"POST /v1/internal/task-status", func() error { return c.ReportTaskStatus(ctx, nil) }},
		{"POST /v1/internal/remove-peer", func() error { return c.RemovePeer(ctx, LeaveRequest{}) }},
		{"GET /v1/secrets", func() error { _, err := c.Secrets(ctx); return err }},
		{"GET /v1/secrets/pw", func() error { _, err := c.Secret(ctx, "pw"); return err }},
		{"POST /v1/secrets", func() error { _, err := c.SecretCreate(ctx, FileCreateRequest{}); return err }},
		{"POST /v1/secrets/pw/update", func() error { return c.SecretUpdate(ctx, "pw", FileUpdate{}) }},
		{"DELETE /v1/secrets/pw", func() error { return c.SecretRemove(ctx, "pw") }},
		{"POST /v1/secrets/rotate-key", func() error { _, err := c.RotateDataKey(ctx); return err }},
		{"GET /v1/configs", func() error { _, err := c.Configs(ctx); return err }},
		{"GET /v1/configs/cf", func() error { _, err := c.Config(ctx, "cf"); return err }},
		{"POST /v1/configs", func() error { _, err := c.ConfigCreate(ctx, FileCreateRequest{}); return err }},
		{"POST /v1/configs/cf/update", func() error { return c.ConfigUpdate(ctx, "cf", FileUpdate{}) }},
		{"DELETE /v1/configs/cf", func() error { return c.ConfigRemove(ctx, "cf") }},
		{"POST /v1/internal/task-secrets", func() error { _, err := c.TaskSecrets(ctx, TaskSecretsRequest{}); return err }},
	}
	for _, tc := range cases {
		got = ""
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.want, err)
		}
		if got != tc.want {
			t.Errorf("sent %q, want %q", got, tc.want)
		}
	}
}

func closeIf(b interface{ Close() error }) {
	if b != nil {
		b.Close()
	}
}
