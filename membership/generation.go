package membership

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// TagGen is the serf tag that carries the agent's recovery generation
// (Generation.String).
const TagGen = "gen"

// Generation is a cluster's recovery generation. `agent init` starts a
// cluster at epoch 1; every `agent recover` raises the epoch by one and
// names the new voter set in ID. Raft traffic crosses no generation
// boundary: a lower generation is stale and must rejoin the higher one.
//
// Two survivors that run recover on the same epoch with the same voter list
// get the same Generation; two independent recoveries (each survivor alone)
// get different IDs, and Compare picks the same winner everywhere.
type Generation struct {
	Epoch uint64
	ID    string
}

// InitialGeneration is the generation of a cluster that was never
// recovered, and of data dirs written before generations existed.
var InitialGeneration = Generation{Epoch: 1}

// Compare orders generations by epoch, then by ID (lexically): -1 if g is
// lower than o, 0 if equal, +1 if higher.
func (g Generation) Compare(o Generation) int {
	switch {
	case g.Epoch < o.Epoch:
		return -1
	case g.Epoch > o.Epoch:
		return 1
	}
	return strings.Compare(g.ID, o.ID)
}

// IsZero reports whether g is unset (epoch 0).
func (g Generation) IsZero() bool { return g.Epoch == 0 }

// String renders g as "EPOCH" or "EPOCH-ID"; ParseGeneration reads it back.
func (g Generation) String() string {
	if g.ID == "" {
		return strconv.FormatUint(g.Epoch, 10)
	}
	return strconv.FormatUint(g.Epoch, 10) + "-" + g.ID
}

// ParseGeneration reads String's form. "" is InitialGeneration (data dirs
// and agents from before generations existed).
func ParseGeneration(s string) (Generation, error) {
	if s == "" {
		return InitialGeneration, nil
	}
	epoch, id, _ := strings.Cut(s, "-")
	n, err := strconv.ParseUint(epoch, 10, 64)
	if err != nil || n == 0 {
		return Generation{}, fmt.Errorf("generation %q: expected EPOCH or EPOCH-ID with EPOCH >= 1", s)
	}
	if strings.ContainsAny(id, " \n-") {
		return Generation{}, fmt.Errorf("generation %q: the ID may not hold spaces or dashes", s)
	}
	return Generation{Epoch: n, ID: id}, nil
}

// RecoveryGeneration is the generation `agent recover` gives a cluster
// recovered from prev with voters (node IDs, in any order) as its voter set:
// the next epoch, and a short hash of the sorted voter IDs.
func RecoveryGeneration(prev Generation, voters []string) Generation {
	ids := slices.Clone(voters)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	return Generation{Epoch: max(prev.Epoch, 1) + 1, ID: hex.EncodeToString(sum[:4])}
}

// GenAction is what an agent does about the generations it has seen.
type GenAction int

const (
	// GenWait: the gate is closed and the first gossip join has not
	// returned; raft must stay silent.
	GenWait GenAction = iota
	// GenOpen: nothing higher was seen; raft may talk and campaign.
	GenOpen
	// GenRejoin: a higher generation of this cluster exists; stop raft,
	// set the old raft state aside and rejoin that generation.
	GenRejoin
)

func (a GenAction) String() string {
	switch a {
	case GenWait:
		return "wait"
	case GenOpen:
		return "open"
	case GenRejoin:
		return "rejoin"
	}
	return "GenAction(" + strconv.Itoa(int(a)) + ")"
}

// DecideGeneration is the agent's whole generation logic, pure: own is its
// generation, seen the generations it learnt of (alive gossip members'
// tags, raft handshakes), joined whether its first gossip join attempt has
// returned (a fresh agent with nothing to learn counts as joined). It
// returns the action and, for GenRejoin, the generation to rejoin (the
// highest seen). Lower and equal generations never change the action: a
// lower one is refused at the raft handshake and rejoins on its side.
func DecideGeneration(own Generation, seen []Generation, joined bool) (GenAction, Generation) {
	high := own
	for _, g := range seen {
		if g.Compare(high) > 0 {
			high = g
		}
	}
	switch {
	case high.Compare(own) > 0:
		return GenRejoin, high
	case !joined:
		return GenWait, own
	default:
		return GenOpen, own
	}
}

// HandshakeVerdict is the acceptor's answer to a raft dialer.
type HandshakeVerdict int

const (
	// VerdictOK: same cluster, same generation, gate open.
	VerdictOK HandshakeVerdict = iota
	// VerdictClosed: this side's gate is not open yet.
	VerdictClosed
	// VerdictOtherCluster: the dialer belongs to another cluster.
	VerdictOtherCluster
	// VerdictLower: the dialer's generation is lower (it is stale).
	VerdictLower
	// VerdictHigher: the dialer's generation is higher (this side is stale).
	VerdictHigher
)

// JudgeHandshake decides, purely, whether raft traffic between own (this
// side) and peer may flow. Every verdict but VerdictOK refuses the
// connection; VerdictHigher also means this side is stale.
func JudgeHandshake(ownCluster string, own Generation, open bool, peerCluster string, peer Generation) HandshakeVerdict {
	switch c := peer.Compare(own); {
	case ownCluster != peerCluster:
		return VerdictOtherCluster
	case c > 0:
		return VerdictHigher
	case c < 0:
		return VerdictLower
	case !open:
		return VerdictClosed
	}
	return VerdictOK
}
