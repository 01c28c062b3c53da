// Package types holds shoal's objects as they are stored, replicated and
// sent over the wire: the cluster record, nodes, services with their specs,
// tasks and networks, and their deep copies.
//
// It is the bottom floor: it imports only the standard library, so the
// store, the daemon's rooms, the API client and the CLIs can all share it
// without any of them linking the others. Request and response envelopes
// of the HTTP API live one floor up, in package api.
package types
