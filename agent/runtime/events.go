package runtime

import (
	"context"
	"errors"
	"strconv"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"
)

// Exit is one container's task exit.
type Exit struct {
	ID   string
	Code int
	At   time.Time
}

// Exits subscribes to task exits in the runtime's namespace (exits of Exec'd
// processes are left out). An exit is sent once the task is reaped, its
// output all in its log (see reap). The channel closes when ctx is done, when Close
// is called, or when the subscription breaks (containerd restarted); the
// caller then subscribes again and reconciles with List, because exits
// while no subscription was established are not replayed.
func (r *Runtime) Exits(ctx context.Context) (<-chan Exit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("runtime: Exits after Close")
	}
	ctx, cancel := context.WithCancel(r.nsCtx(ctx))
	envelopes, errs := r.client.Subscribe(ctx,
		`topic=="/tasks/exit"`, `namespace==`+strconv.Quote(r.cfg.Namespace))
	out := make(chan Exit, 16)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(out)
		defer cancel()
		for {
			select {
			case <-r.done:
				return
			case <-ctx.Done():
				return
			case err := <-errs:
				if err != nil && ctx.Err() == nil {
					r.log.Warn("containerd event subscription ended", "err", err)
				}
				return
			case env := <-envelopes:
				ev, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					r.log.Warn("decode containerd event", "topic", env.Topic, "err", err)
					continue
				}
				te, ok := ev.(*apievents.TaskExit)
				if !ok || te.ID != te.ContainerID { // an exec'd process
					continue
				}
				if _, err := r.Status(ctx, te.ContainerID); err != nil && ctx.Err() == nil {
					r.log.Warn("reap exited container", "id", te.ContainerID, "err", err)
				}
				select {
				case out <- Exit{ID: te.ContainerID, Code: int(te.ExitStatus), At: te.ExitedAt.AsTime()}:
				case <-ctx.Done():
					return
				case <-r.done:
					return
				}
			}
		}
	}()
	return out, nil
}
