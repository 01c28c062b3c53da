package spec

import (
	"encoding/json"
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

// FuzzValidateServiceSpec decodes a request body as the API does, then runs
// the whole front door over it: it must never panic, and a spec it accepts
// must stay accepted when its defaults are filled again (Defaults is
// idempotent) and after a JSON round trip (what raft stores).
func FuzzValidateServiceSpec(f *testing.F) {
	for _, seed := range []string{
		`{"Name":"web","TaskTemplate":{"Image":"web:v1"},"Mode":{"Replicas":3}}`,
		`{"Name":"web","TaskTemplate":{"Image":"Bad Image Ref::"}}`,
		`{"Name":"tasks.web","TaskTemplate":{"Image":"web"},"Mode":{"Replicas":100000000}}`,
		`{"Name":"w","TaskTemplate":{"Image":"web","Mounts":[{"Type":"volume","Source":"../x","Target":"/d"}]},"UpdateConfig":{"Parallelism":0,"MaxFailureRatio":2}}`,
		`{"Name":"w","TaskTemplate":{"Image":"web","Limits":{"MemoryBytes":1}},"EndpointSpec":{"Mode":"dnsrr","Ports":[{"PublishedPort":7948,"TargetPort":80}]}}`,
	} {
		f.Add([]byte(seed))
	}
	c := Cluster{
		Services: []*types.Service{{ID: "o", Spec: types.ServiceSpec{Name: "api", Endpoint: types.EndpointSpec{
			Ports: []types.PortConfig{{Protocol: "tcp", PublishedPort: 8080, TargetPort: 80}}}}}},
		Nodes: []*types.Node{{ID: "n1", Addr: "10.77.0.2", APIPort: 7948}},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var s types.ServiceSpec
		if json.Unmarshal(body, &s) != nil {
			return
		}
		Defaults(&s)
		if ValidateService(&s) != nil || CheckService(c, &s, "new", DefaultLimits()) != nil {
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("accepted spec does not encode: %v", err)
		}
		var back types.ServiceSpec
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("accepted spec does not decode: %v", err)
		}
		Defaults(&back)
		if err := ValidateService(&back); err != nil {
			t.Fatalf("accepted spec refused after a round trip: %v\n%s", err, b)
		}
	})
}
