package convert

import (
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-org/shoal/api"
)

// Distribution is d as Docker's distribution inspect.
func Distribution(d api.ImageDistribution) registry.DistributionInspect {
	out := registry.DistributionInspect{
		Descriptor: ocispec.Descriptor{MediaType: d.MediaType, Digest: digest.Digest(d.Digest), Size: d.Size},
		Platforms:  []ocispec.Platform{},
	}
	for _, p := range d.Platforms {
		out.Platforms = append(out.Platforms, ocispec.Platform{OS: p.OS, Architecture: p.Architecture})
	}
	return out
}
