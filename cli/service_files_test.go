package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

func TestParseFileRef(t *testing.T) {
	cases := []struct {
		in      string
		want    types.FileRef
		wantErr string
	}{
		{in: "db-pass", want: types.FileRef{Name: "db-pass"}},
		{in: "source=db-pass,target=/etc/pw,uid=1000,gid=1001,mode=0400",
			want: types.FileRef{Name: "db-pass", Target: "/etc/pw", UID: "1000", GID: "1001", Mode: 0o400}},
		{in: "src=cfg,target=app.conf", want: types.FileRef{Name: "cfg", Target: "app.conf"}},
		{in: "target=/x", wantErr: "source=NAME is missing"},
		{in: "source=a,mode=999", wantErr: `mode "999"`},
		{in: "source=a,mode=01777", wantErr: `mode "01777"`},
		{in: "source=a,uid=root", wantErr: "uid and gid are numbers"},
		{in: "source=a,color=red", wantErr: `unknown field "color"`},
		{in: "source=a,target", wantErr: `"target" has no value`},
		{in: "", wantErr: "give a name"},
	}
	for _, tc := range cases {
		got, err := parseFileRef("secret", tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "--secret") {
				t.Errorf("%q: error %v, want one naming --secret and saying %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case !reflect.DeepEqual(got, tc.want):
			t.Errorf("%q = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestFileUpdateFlags(t *testing.T) {
	tmpl := types.TaskTemplate{Secrets: []types.FileRef{{Name: "old", Target: "/run/secrets/old"}, {Name: "keep"}}}
	f := fileUpdateFlags{SecretRm: []string{"old"}, SecretAdd: []string{"new", "source=keep,target=/k"}}
	if err := f.apply("web", &tmpl); err != nil {
		t.Fatal(err)
	}
	want := []types.FileRef{{Name: "keep"}, {Name: "new"}, {Name: "keep", Target: "/k"}}
	if !reflect.DeepEqual(tmpl.Secrets, want) {
		t.Fatalf("secrets = %+v, want %+v", tmpl.Secrets, want)
	}
	bad := fileUpdateFlags{ConfigRm: []string{"nope"}}
	if err := bad.apply("web", &tmpl); err == nil || !strings.Contains(err.Error(), "--config-rm") {
		t.Fatalf("removing a config the service lacks: %v", err)
	}
}
