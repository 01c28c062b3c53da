// Package scheduler places new tasks on nodes, the way swarm mode's
// scheduler does, as a pure computation over a snapshot of nodes and tasks.
//
// A Scheduler is built once per plan (New) from all nodes and the
// non-terminal tasks, then asked many times (Place, PlaceOn, Eligible,
// Keeps). It keeps its counts up to date as it places, so tasks placed for
// one service are seen by the next call. It does no I/O, reads no clock and
// starts no goroutines; it is not safe for concurrent use.
//
// # Filters
//
// A node must pass, in order:
//
//  1. availability: status ready and availability active. A paused node keeps
//     its tasks but gets no new ones; a drained node keeps nothing (Keeps).
//  2. constraints: every Placement.Constraints expression (ParseConstraints).
//  3. platform: the node's OS/architecture is one of the template's image
//     platforms, listed in TaskTemplate.Extra[PlatformsKey] as
//     "linux/amd64,linux/arm64" (whoever resolves the image fills it in, as
//     the docker CLI fills swarm's Placement.Platforms). No list, or a node
//     that did not report its platform, passes.
//  4. resources: the Reservations of the non-terminal tasks already on the
//     node plus the new task's fit in the node's Resources, per dimension;
//     a zero reservation always fits, a positive one never fits a node that
//     reports zero capacity.
//  5. max replicas: fewer than Placement.MaxReplicas tasks of the service.
//
// When a task cannot be placed the error says why, node by node, as swarm
// does: "no suitable node (scheduling constraints not satisfied on 3 nodes;
// 1 node not available for new tasks)", reasons ordered by how many nodes
// they rejected.
//
// # Choice
//
// Among the nodes that pass, Placement.Preferences spread tasks over the
// values of node labels, as a tree: at each level the task goes to the
// branch (label value) holding the fewest tasks of the service; nodes
// without the label form a branch of their own. Within the chosen leaf the
// default "spread" strategy takes the node with the fewest tasks of the
// service, then the fewest tasks overall, then the smallest node ID.
// "binpack" takes the most loaded node that still fits: the highest
// reserved share of CPU or memory, then the most tasks, then the smallest
// node ID.
//
// Counting: a task counts towards spreading and MaxReplicas while its
// desired state is at most running and it is not terminal, so a task being
// stopped (for example by a stop-first update) does not push its
// replacement away. Its reservation counts until it is terminal, because it
// still holds the resources.
//
// # Cost
//
// Each Place call filters the nodes once (constraints, platform) and keeps
// the candidates in one binary heap per preference leaf; every placement is
// then O(log n) plus the number of branches per preference level. See
// bench_test.go for figures.
package scheduler
