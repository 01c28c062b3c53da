package stack

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	ctypes "github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// locateShortPort finds the short-syntax port ("70000:80") that compose-go
// refused without naming its service, and names its field. It reads the
// raw files (before interpolation: a port written as a variable is not
// found) and returns "" when it finds none.
func locateShortPort(files []string) string {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var doc struct {
			Services map[string]struct {
				Ports []any `yaml:"ports"`
			} `yaml:"services"`
		}
		if yaml.Unmarshal(b, &doc) != nil {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(doc.Services)) {
			for i, p := range doc.Services[name].Ports {
				s, ok := p.(string)
				if !ok || strings.Contains(s, "$") {
					continue
				}
				if _, err := ctypes.ParsePortConfig(s); err != nil {
					return fmt.Sprintf("%s: services.%s.ports[%d]: %q: %v", f, name, i, s, err)
				}
			}
		}
	}
	return ""
}
