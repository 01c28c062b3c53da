package placement

import (
	"errors"
	"reflect"
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

func TestParseConstraints(t *testing.T) {
	tests := []struct {
		expr    string
		want    Constraint
		wantErr string
	}{
		{expr: "node.labels.env==test", want: Constraint{"node.labels.env", OpEq, "test"}},
		{expr: " node.labels.Env != prod ", want: Constraint{"node.labels.Env", OpNe, "prod"}},
		{expr: "Node.Hostname==web-1", want: Constraint{KeyHostname, OpEq, "web-1"}},
		{expr: "node.id==abc", want: Constraint{KeyNodeID, OpEq, "abc"}},
		{expr: "node.role==manager", want: Constraint{KeyRole, OpEq, "voter"}},
		{expr: "node.role!=worker", want: Constraint{KeyRole, OpNe, "nonvoter"}},
		{expr: "node.role==nonvoter", want: Constraint{KeyRole, OpEq, "nonvoter"}},
		{expr: "node.platform.os==linux", want: Constraint{KeyOS, OpEq, "linux"}},
		{expr: "node.platform.arch==x86_64", want: Constraint{KeyArch, OpEq, "amd64"}},
		{expr: "node.labels.env=test",
			wantErr: `constraint "node.labels.env=test": expected KEY==VALUE or KEY!=VALUE`},
		{expr: "node.labels.env==", wantErr: `constraint "node.labels.env==": expected KEY==VALUE or KEY!=VALUE`},
		{expr: "==x", wantErr: `constraint "==x": expected KEY==VALUE or KEY!=VALUE`},
		{expr: "a==b==c", wantErr: `constraint "a==b==c": expected KEY==VALUE or KEY!=VALUE`},
		{expr: "node.labels.==x", wantErr: `constraint "node.labels.==x": missing label name after "node.labels."`},
		{expr: "node.role==leader",
			wantErr: `constraint "node.role==leader": node.role is voter or nonvoter (swarm's manager and worker are accepted)`},
		{expr: "engine.labels.a==b",
			wantErr: `constraint "engine.labels.a==b": engine labels are not supported; label the node and use node.labels.<name>`},
		{expr: "node.zone==a", wantErr: `constraint "node.zone==a": unknown key "node.zone"; use node.id, node.hostname, ` +
			`node.role, node.platform.os, node.platform.arch or node.labels.<name>`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := ParseConstraints([]string{tt.expr})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				var se *SpecError
				if !errors.As(err, &se) || !errors.Is(err, ErrInvalidPlacement) {
					t.Fatalf("error %v is not a *SpecError wrapping ErrInvalidPlacement", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConstraintMatch(t *testing.T) {
	n := &types.Node{ID: "n1", Hostname: "Web-1", Role: types.RoleVoter,
		Platform: types.Platform{OS: "linux", Architecture: "aarch64"},
		Labels:   map[string]string{"env": "Prod", "Zone": "a"}}
	worker := &types.Node{ID: "n2", Hostname: "w"} // empty role reads as nonvoter
	tests := []struct {
		expr string
		node *types.Node
		want bool
	}{
		{"node.labels.env==prod", n, true}, // values compare case-insensitively
		{"node.labels.env!=prod", n, false},
		{"node.labels.zone==a", n, false}, // label names are case-sensitive
		{"node.labels.Zone==a", n, true},
		{"node.labels.missing!=x", n, true}, // a missing label is ""
		{"node.labels.missing==x", n, false},
		{"node.hostname==web-1", n, true},
		{"node.id==n1", n, true},
		{"node.id!=n1", n, false},
		{"node.role==manager", n, true},
		{"node.role==worker", n, false},
		{"node.role==worker", worker, true},
		{"node.platform.os==linux", n, true},
		{"node.platform.arch==arm64", n, true},
		{"node.platform.arch==amd64", n, false},
	}
	for _, tt := range tests {
		cs, err := ParseConstraints([]string{tt.expr})
		if err != nil {
			t.Fatal(err)
		}
		if got := cs[0].Match(tt.node); got != tt.want {
			t.Errorf("%s on %s: got %v, want %v", tt.expr, tt.node.ID, got, tt.want)
		}
	}
}

func TestParsePreferences(t *testing.T) {
	got, err := ParsePreferences([]string{"spread=node.labels.zone", "node.labels.rack", "node.HOSTNAME"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"node.labels.zone", "node.labels.rack", KeyHostname}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"pack=node.labels.zone", "zone", "spread="} {
		if _, err := ParsePreferences([]string{bad}); !errors.Is(err, ErrInvalidPlacement) {
			t.Errorf("%q: error = %v, want ErrInvalidPlacement", bad, err)
		}
	}
}

func TestParsePlatforms(t *testing.T) {
	got, err := ParsePlatforms("linux/amd64, linux/arm/v7,windows")
	if err != nil {
		t.Fatal(err)
	}
	want := []types.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm"}, {OS: "windows"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := ParsePlatforms("/amd64"); !errors.Is(err, ErrInvalidPlacement) {
		t.Fatalf("error = %v, want ErrInvalidPlacement", err)
	}
	amd := types.Platform{OS: "linux", Architecture: "x86_64"}
	for _, tt := range []struct {
		want []types.Platform
		node types.Platform
		ok   bool
	}{
		{nil, amd, true},
		{want, amd, true},
		{want[2:], amd, false},
		{want[:1], types.Platform{OS: "linux", Architecture: "arm64"}, false},
		{want[:1], types.Platform{}, true}, // unreported node platform passes
	} {
		if got := PlatformOK(tt.want, tt.node); got != tt.ok {
			t.Errorf("PlatformOK(%v, %v) = %v, want %v", tt.want, tt.node, got, tt.ok)
		}
	}
}
