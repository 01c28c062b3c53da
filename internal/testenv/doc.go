// Package testenv stands up the environment a test needs, one way for the
// whole tree (as containerd's integration/ does for containerd): a network
// namespace of its own (NetNS), a containerd of its own (Containerd), a
// docker-registry serving the test images (Registry), the test images
// themselves (Image), and the root checks that skip a test with a reason
// (RequireRoot). Each helper registers its teardown with t.Cleanup.
//
// The daemons are the real ones, from Debian's packages containerd, runc
// and docker-registry; a test skips, naming the package, where one is
// missing. The lab (e2e/lab) renders its daemons' configs with
// ContainerdConfig and RegistryConfig so that both run the same setup.
//
// Only tests and the lab import this package; the daemon never does. Code
// that switches namespaces in the daemon uses internal/nsthread, which this
// package builds on.
package testenv
