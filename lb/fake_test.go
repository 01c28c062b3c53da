package lb_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/shoal-org/shoal/lb"
)

func TestFakeRendersState(t *testing.T) {
	ctx := context.Background()
	f := lb.NewFake()
	web := lb.Service{Key: "web/80/tcp", VIP: netip.MustParseAddr("10.96.0.1"), Port: 80, Proto: lb.TCP,
		PublishedPort: 8080, Backends: []lb.Backend{
			{IP: netip.MustParseAddr("10.0.0.2"), Port: 80, Weight: 1},
			{IP: netip.MustParseAddr("10.0.0.1"), Port: 80, Weight: 0},
		}}
	dns := lb.Service{Key: "dns/53/udp", VIP: netip.MustParseAddr("10.96.0.2"), Port: 53, Proto: lb.UDP}
	api := lb.Service{Key: "api/vip", VIP: netip.MustParseAddr("10.96.0.3"),
		Backends: []lb.Backend{{IP: netip.MustParseAddr("10.0.0.3"), Weight: 1}}}
	apiPub := lb.Service{Key: "api/published/8443/tcp", Port: 443, Proto: lb.TCP, PublishedPort: 8443,
		Backends: []lb.Backend{{IP: netip.MustParseAddr("10.0.0.3"), Port: 443, Weight: 1}}}
	if err := f.Apply(ctx, lb.Config{Services: []lb.Service{web, dns, api, apiPub}}); err != nil {
		t.Fatal(err)
	}
	want := `service api/published/8443/tcp 443/tcp published=8443
  backend 10.0.0.3:443 weight=1
service api/vip 10.96.0.3:*
  backend 10.0.0.3 weight=1
service dns/53/udp 10.96.0.2:53/udp
service web/80/tcp 10.96.0.1:80/tcp published=8080
  backend 10.0.0.1:80 weight=0
  backend 10.0.0.2:80 weight=1
`
	if got := f.String(); got != want {
		t.Errorf("state:\n%s\nwant:\n%s", got, want)
	}

	bad := dns
	bad.Port = 0 // all ports, but with a protocol
	if err := f.Apply(ctx, lb.Config{Services: []lb.Service{bad}}); !errors.Is(err, lb.ErrInvalidConfig) {
		t.Errorf("invalid config: got %v, want ErrInvalidConfig", err)
	}
	boom := errors.New("boom")
	f.SetApplyError(boom)
	if err := f.Apply(ctx, lb.Config{}); !errors.Is(err, boom) {
		t.Errorf("injected error: got %v", err)
	}
	if got := f.String(); got != want {
		t.Errorf("failed Apply changed the state:\n%s", got)
	}
	if f.Applies() != 2 {
		t.Errorf("Applies() = %d, want 2 (invalid configs do not count)", f.Applies())
	}
	if err := f.Close(); err != nil || !f.Closed() || f.String() != "" {
		t.Errorf("Close: err %v, closed %v, state %q", err, f.Closed(), f.String())
	}
	if err := f.Apply(ctx, lb.Config{}); !errors.Is(err, lb.ErrClosed) {
		t.Errorf("Apply after Close: got %v, want ErrClosed", err)
	}
}

func TestNewUnknownKind(t *testing.T) {
	if _, err := lb.New("xdp", lb.Options{}); !errors.Is(err, lb.ErrUnknownKind) {
		t.Errorf("New(xdp): got %v, want ErrUnknownKind", err)
	}
}
