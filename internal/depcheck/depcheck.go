// Package depcheck pins the project's direct dependencies while packages are
// being written; it is deleted once every dependency has a real importer.
package depcheck

import (
	_ "github.com/alecthomas/kong"
	_ "github.com/containerd/containerd"
	_ "github.com/google/nftables"
	_ "github.com/hashicorp/go-memdb"
	_ "github.com/hashicorp/memberlist"
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb/v2"
	_ "github.com/hashicorp/serf/serf"
	_ "github.com/miekg/dns"
	_ "github.com/moby/ipvs"
	_ "github.com/opencontainers/image-spec/specs-go/v1"
	_ "github.com/opencontainers/runtime-spec/specs-go"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/sys/unix"
)
