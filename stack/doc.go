// Package stack turns compose files into shoal's objects, as `docker stack
// deploy` does for a swarm, and plans a deployment against what a cluster
// already runs. It does no I/O beyond reading the compose files (and their
// .env) it is given: the CLI lists the cluster's services and networks,
// asks Plan what to change, and applies the plan over the API.
//
// Names and labels are docker's, so that stacks deployed by agentctl and
// by the docker CLI are the same stacks: every object of stack STACK is
// named STACK_NAME and labelled com.docker.stack.namespace=STACK; the
// network services join when they name none is STACK_default, an overlay.
//
// What a swarm ignores in a compose file (build, depends_on,
// container_name, links, …) and what shoal's specs have no field for
// (sysctls, ulimits, cap_add, …) is skipped with one warning line each.
// What would change the application's meaning if it were skipped
// (host-mode ports, volume drivers, jobs, tty) is refused with an error
// naming the key.
package stack
