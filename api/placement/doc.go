// Package placement is the grammar of a service's placement: constraints
// ("node.labels.zone==east"), spread preferences and platform lists, and
// how a constraint matches a node. Clients parse with it before they send
// a spec and the scheduler matches with it, so both read the same language.
// It imports only package types.
package placement
