package stack

import (
	"regexp"
	"strings"
)

// The names a stack makes (STACK_KEY) must pass the leader's checks
// (package spec) before anything is created, or a deploy would stop
// half-way. spec links the overlay (netlink), which agentctl must not,
// so the rules are repeated here; TestNamesAgreeWithSpec pins them to
// spec's.
var (
	serviceNameRule = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[a-zA-Z0-9]+)*$`)
	networkNameRule = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)
)

const (
	maxServiceName = 63 // one DNS label
	maxNetworkName = 32 // also part of the nodes' device names
)

// checkServiceName refuses a service name the leader would refuse.
func checkServiceName(field, name string) error {
	if len(name) > maxServiceName || !serviceNameRule.MatchString(name) || strings.EqualFold(name, "tasks") {
		return invalidf("%s: service name %q is not one shoal accepts: use at most %d letters, digits, '-' and '_' in all (stack name, '_' and key), starting and ending with a letter or digit",
			field, name, maxServiceName)
	}
	return nil
}

// checkNetworkName refuses a network name the leader would refuse.
func checkNetworkName(field, name string) error {
	if len(name) > maxNetworkName || !networkNameRule.MatchString(name) {
		return invalidf("%s: network name %q is not one shoal accepts: use at most %d letters, digits, '-' and '_' in all (stack name, '_' and key), starting with a letter or digit",
			field, name, maxNetworkName)
	}
	return nil
}
