package apiserver

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
)

// requestTypes are the bodies the API decodes with readJSON, by the index
// the fuzz corpus names them with (testdata/fuzz/FuzzDecodeRequest: the
// cli-* files are bodies agentctl sent to a fake agent).
var requestTypes = []func() any{
	func() any { return new(api.InitRequest) },
	func() any { return new(api.ServiceCreateRequest) },
	func() any { return new(api.ServiceUpdateRequest) },
	func() any { return new(api.ServiceRollbackRequest) },
	func() any { return new(api.NodeUpdate) },
	func() any { return new(api.NetworkCreateRequest) },
	func() any { return new(api.JoinRequest) },
	func() any { return new(api.AdmitRequest) },
	func() any { return new(api.LeaveRequest) },
	func() any { return new([]types.TaskUpdate) },
}

// FuzzDecodeRequest feeds every request type arbitrary bodies: decodeJSON
// must never panic, must refuse with a 400 (never another code, never an
// error without a message), and what it accepts must survive a round trip
// through encoding/json unchanged in meaning (it decodes again without
// error).
func FuzzDecodeRequest(f *testing.F) {
	f.Add(byte(0), []byte(`{"OverlayCIDR":"10.240.0.0/16"}`))
	f.Add(byte(4), []byte(`{"Availability":"drain","LabelAdd":{"env":"prod"},"LabelRm":["x"]}`))
	f.Add(byte(6), []byte(`{"Token":"SHOALTKN-1-aa-bb","Peer":"10.0.0.1:7948"}`))
	f.Add(byte(8), []byte(`{"NodeID":"abc"}`))
	f.Add(byte(9), []byte(`[{"TaskID":"t1","Status":{"State":"running"},"Addresses":{"shoal":"10.240.1.2"}}]`))
	f.Add(byte(1), []byte(`{"Spec":{"Mode":{"Replicas":"x"}}}`))
	f.Add(byte(1), []byte(`{"Spec":{}} trailing`))
	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		v := requestTypes[int(kind)%len(requestTypes)]()
		err := decodeJSON(body, v, true)
		if err != nil {
			var he *fault.Error
			if !errors.As(err, &he) || he.Kind != fault.Invalid || he.Msg == "" {
				t.Fatalf("decodeJSON(%q) = %v: want a 400 with a message", body, err)
			}
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted %q but cannot encode it again: %v", body, err)
		}
		if err := decodeJSON(b, requestTypes[int(kind)%len(requestTypes)](), true); err != nil {
			t.Fatalf("accepted %q, re-encoded as %q, then refused it: %v", body, b, err)
		}
	})
}
