package apiserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/shoal-org/shoal/internal/fault"
)

const forwardedHeader = "X-Shoal-Forwarded"

// errLeaderChanged ends a forwarded write whose leader lost its place.
var errLeaderChanged = errors.New("the leader changed while this write was forwarded to it: " +
	"it may or may not have been applied; check (e.g. agentctl service ls) and retry")

// errNoLeader answers a write that could not reach a leader.
var errNoLeader = fault.Unavailablef("no leader reachable: this agent cannot reach a majority of the raft voters, so it cannot accept writes " +
	"(reads still work). Check the network between the agents; if the majority is gone for good, run `agent recover` on a survivor")

// leaderOnly runs h on the leader; on any other agent it forwards the
// request to the leader over mutual TLS and relays the answer.
func (s *Server) leaderOnly(h handler) handler { return LeaderOnly(s.b, h) }

// LeaderOnly runs h on the leader; on any other agent it forwards the
// request, path and body unchanged, to the base URL of the leader's API
// over mutual TLS and relays the answer. The leader's TCP listener must
// therefore serve the same path: the Engine API uses it for its writes.
func LeaderOnly(l Leadership, h HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		self, leader, base, rt, err := l.Leader()
		if err != nil {
			return err
		}
		if self {
			return h(w, r)
		}
		// A body the leader would refuse for its size is refused here,
		// unread: forwarding it would stream megabytes to the leader only
		// for the leader to close the connection under the proxy.
		if r.ContentLength > MaxRequestBody {
			return bodyTooLarge(r.ContentLength)
		}
		if r.Header.Get(forwardedHeader) != "" {
			return fault.Unavailablef("leadership changed while forwarding the request; retry it")
		}
		target, err := url.Parse(base)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		go cancelOnLeaderChange(ctx, l, cancel, leader)
		var proxyErr error
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Header.Set(forwardedHeader, "1")
			},
			Transport: rt,
			ErrorHandler: func(http.ResponseWriter, *http.Request, error) {
				proxyErr = errNoLeader
				if errors.Is(context.Cause(ctx), errLeaderChanged) {
					proxyErr = fault.Unavailablef("%s", errLeaderChanged.Error())
				}
			},
		}
		proxy.ServeHTTP(w, r.WithContext(ctx))
		return proxyErr
	}
}

// cancelOnLeaderChange cancels ctx with errLeaderChanged as soon as this
// agent's raft no longer names leader, so that a write forwarded to a
// leader cut off by a partition fails within moments, not after the
// transport's timeout. It returns when ctx ends.
func cancelOnLeaderChange(ctx context.Context, l Leadership, cancel context.CancelCauseFunc, leader string) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if l.LeaderID() != leader {
				cancel(errLeaderChanged)
				return
			}
		}
	}
}
