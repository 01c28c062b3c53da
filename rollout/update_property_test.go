package rollout

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// TestUpdateProperty runs random rolling updates with simulated agents
// that start and stop tasks slowly or quickly, running tasks that crash
// at random early on, and a scale change in the middle. On every round the
// simulation checks that plans are deterministic and the same from a
// snapshot through JSON (a new leader), that no batch exceeds the
// parallelism (by the status, and by the tasks visibly being replaced),
// that a stop-first slot never has two tasks on nodes, and that no
// running up-to-date task is stopped unless a scale-down asks; at the
// end, that the update completed, every slot runs exactly one task of the
// new spec, and no slot was put in a batch twice.
func TestUpdateProperty(t *testing.T) {
	for seed := range uint64(300) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			global := rng.IntN(4) == 0
			n := uint64(1 + rng.IntN(8))
			cfg := updCfg(uint64(rng.IntN(4)), pick(rng, 0, time.Second, 3*time.Second),
				pick(rng, 0, time.Second, 4*time.Second), pick(rng, OrderStopFirst, OrderStartFirst), ActionContinue, 0)
			svc, tasks := fleet(n, global, withUpdate(cfg))
			s := startSim(t, svc, tasks, pick(rng, "img:2", imgSlow))
			s.stopLag = rng.IntN(3)
			crashes := rng.IntN(2) == 0
			scaleAt, scaleTo := -1, n
			if !global && rng.IntN(3) == 0 {
				scaleAt, scaleTo = rng.IntN(20), uint64(rng.IntN(9))
				s.allowRetire = scaleTo < n
			}
			settled := false
			for round := 0; round < 3000 && !settled; round++ {
				if round == scaleAt {
					c := s.service("web").Copy()
					c.Spec.Mode.Replicas = scaleTo
					s.setService(c)
				}
				p, changed := s.round()
				if t.Failed() {
					t.FailNow()
				}
				if crashes && round < 15 {
					s.in.Tasks = crash(rng, s.in.Tasks, s.in.Now)
					changed = true
				}
				switch {
				case changed || round < scaleAt:
					s.in.Now = s.in.Now.Add(time.Duration(1+rng.IntN(1000)) * time.Millisecond)
				case p.WakeAt.IsZero():
					settled = true
				default:
					s.in.Now = p.WakeAt
				}
			}
			if !settled {
				t.Fatalf("not settled after 3000 rounds")
			}
			slots := int(scaleTo)
			if global {
				slots = len(abc)
			}
			s.checkDone("web", types.UpdateCompleted, slots)
			if st := s.service("web").UpdateStatus; st.Updated > max(n, uint64(slots)) {
				t.Fatalf("updated %d slots of %d", st.Updated, max(n, uint64(slots)))
			}
		})
	}
}
