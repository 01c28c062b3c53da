package events

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
	"github.com/shoal-org/shoal/store/storetest"
)

func svc(id, name, image string, replicas uint64, version uint64) *types.Service {
	return &types.Service{ID: id, Meta: types.Meta{Version: version},
		Spec: types.ServiceSpec{Name: name, Mode: types.ServiceMode{Replicas: replicas}, Task: types.TaskTemplate{Image: image}}}
}

// line is an event in one line: "service update web image.new=v2 image.old=v1".
func line(e api.Event) string {
	var attrs []string
	for _, k := range []string{"image.old", "image.new", "replicas.old", "replicas.new", "availability.old", "availability.new", "updatestate.new"} {
		if v, ok := e.Attributes[k]; ok {
			attrs = append(attrs, k+"="+v)
		}
	}
	return strings.TrimSpace(fmt.Sprintf("%s %s %s %s", e.Type, e.Action, e.Name, strings.Join(attrs, " ")))
}

func lines(evs []api.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, line(e))
	}
	return out
}

// TestEventsFromTheStore: creating, updating and removing objects in a real
// store gives docker's events with the changed fields, in order; a reader
// asking since a time gets the kept ones, then the live ones.
func TestEventsFromTheStore(t *testing.T) {
	f := storetest.New(t)
	f.Put(&types.Node{ID: "n1", Hostname: "n1", Availability: types.AvailabilityActive, Status: types.NodeReady})
	l := New(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx, f.Store)
	start := time.Now()
	waitRunning(t, l)
	_, live, stop := l.Subscribe(time.Time{})
	defer stop()

	f.Put(svc("s1", "web", "web:v1", 3, 0))
	want := []string{"service create web"}
	expect(t, live, want)

	cur := f.View().Service("s1").Copy()
	cur.Spec.Task.Image, cur.Spec.Mode.Replicas = "web:v2", 5
	f.Put(cur)
	expect(t, live, []string{"service update web image.old=web:v1 image.new=web:v2 replicas.old=3 replicas.new=5"})

	n := f.View().Node("n1").Copy()
	n.Availability = types.AvailabilityDrain
	f.Put(n)
	expect(t, live, []string{"node update n1 availability.old=active availability.new=drain"})

	f.Delete(store.TableServices, "s1")
	expect(t, live, []string{"service remove web"})

	past, _, stop2 := l.Subscribe(start)
	defer stop2()
	got := strings.Join(lines(past), "\n")
	wantPast := "service create web\nservice update web image.old=web:v1 image.new=web:v2 replicas.old=3 replicas.new=5\n" +
		"node update n1 availability.old=active availability.new=drain\nservice remove web"
	if got != wantPast {
		t.Errorf("events since the start:\n%s\nwant:\n%s", got, wantPast)
	}
}

// waitRunning waits until Run has taken its baseline.
func waitRunning(t *testing.T, l *Log) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		l.mu.Lock()
		ok := l.last != nil
		l.mu.Unlock()
		if ok {
			return
		}
	}
	t.Fatal("the log never took its baseline")
}

func expect(t *testing.T, live <-chan api.Event, want []string) {
	t.Helper()
	for _, w := range want {
		select {
		case e := <-live:
			if got := line(e); got != w {
				t.Fatalf("event %q, want %q", got, w)
			}
			if e.Time.IsZero() || e.ID == "" || e.Attributes["name"] != e.Name {
				t.Fatalf("event %+v lacks its time, ID or name attribute", e)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event; want %q", w)
		}
	}
}

// TestRingKeepsTheLast: the log keeps only its last events.
func TestRingKeepsTheLast(t *testing.T) {
	f := storetest.New(t)
	l := New(3)
	l.Observe(f.View())
	for i := range 5 {
		f.Put(svc(fmt.Sprintf("s%d", i), fmt.Sprintf("svc%d", i), "web:v1", 1, 0))
		l.Observe(f.View())
	}
	past, _, stop := l.Subscribe(time.Unix(0, 1))
	defer stop()
	if got := strings.Join(lines(past), ","); got != "service create svc2,service create svc3,service create svc4" {
		t.Errorf("kept %s", got)
	}
}
