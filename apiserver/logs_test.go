package apiserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/logrec"
)

// logBackend answers every task's log with one stdout and one stderr line.
type logBackend struct{ Backend }

func (logBackend) TaskLogs(_ context.Context, ref string, _ api.LogOptions, open func() func(api.LogLine)) error {
	sink := open()
	at := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	l := api.LogLine{Task: "web.1." + ref, TaskID: ref, NodeName: "n2"}
	l.Record = logrec.Record{Time: at, Stream: logrec.Stdout, Line: []byte("out")}
	sink(l)
	l.Record = logrec.Record{Time: at.Add(time.Second), Stream: logrec.Stderr, Line: []byte("err")}
	sink(l)
	return nil
}

// TestLogFormats: a user gets docker's text (with times on request),
// another agent the records, and an agent of an earlier version, which
// does not ask for records, the plain text it expects.
func TestLogFormats(t *testing.T) {
	h := New(logBackend{}).Handler(false)
	get := func(query string) string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/tasks/t1/logs?"+query, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", query, w.Code, w.Body)
		}
		return w.Body.String()
	}
	if got := get("tail=all"); got != "web.1.t1@n2    | out\nweb.1.t1@n2    | err\n" {
		t.Errorf("text: %q", got)
	}
	if got := get("timestamps=true"); got != "2026-12-04T21:00:00.000000000Z web.1.t1@n2    | out\n2026-12-04T21:00:01.000000000Z web.1.t1@n2    | err\n" {
		t.Errorf("text with times: %q", got)
	}
	want := logrec.Header + "2026-12-04T21:00:00.000000000Z stdout F out\n2026-12-04T21:00:01.000000000Z stderr F err\n"
	if got := get(api.LogOptions{Local: true}.Values().Encode()); got != want {
		t.Errorf("records: %q, want %q", got, want)
	}
	if got := get("local=true&tail=all"); got != "out\nerr\n" {
		t.Errorf("an older agent's ask: %q", got)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/tasks/t1/logs?since=yesterday", nil))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `--since \"yesterday\"`) {
		t.Errorf("a bad --since: %d %s", w.Code, w.Body)
	}
}
