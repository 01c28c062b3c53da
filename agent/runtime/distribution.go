package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/containerd/containerd/images"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxManifest bounds what Distribution reads of a manifest, an index or
// an image config.
const maxManifest = 4 << 20

// Distribution asks ref's registry, without pulling, what ref names now:
// the descriptor of its manifest or index and the platforms it offers
// (from the index, or from the image config of a single manifest). It is
// what the Engine API's /distribution/{ref}/json answers, with which the
// docker CLI pins a service's image to a digest.
func (r *Runtime) Distribution(ctx context.Context, ref string) (ocispec.Descriptor, []ocispec.Platform, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("image %q: %w", ref, err)
	}
	res := r.resolver()
	name, desc, err := res.Resolve(ctx, named.String())
	if err != nil {
		return ocispec.Descriptor{}, nil, classifyPullError(ref, reference.Domain(named), err)
	}
	fetcher, err := res.Fetcher(ctx, name)
	if err != nil {
		return desc, nil, fmt.Errorf("image %q: %w", ref, err)
	}
	read := func(d ocispec.Descriptor, v any) error {
		rc, err := fetcher.Fetch(ctx, d)
		if err != nil {
			return fmt.Errorf("image %q: fetch %s: %w", ref, d.Digest, err)
		}
		defer rc.Close()
		return json.NewDecoder(io.LimitReader(rc, maxManifest)).Decode(v)
	}
	var plats []ocispec.Platform
	switch desc.MediaType {
	case images.MediaTypeDockerSchema2ManifestList, ocispec.MediaTypeImageIndex:
		var idx ocispec.Index
		if err := read(desc, &idx); err != nil {
			return desc, nil, err
		}
		for _, m := range idx.Manifests {
			if m.Platform != nil && m.Platform.OS != "unknown" {
				plats = append(plats, *m.Platform)
			}
		}
	default:
		var m ocispec.Manifest
		if err := read(desc, &m); err != nil {
			return desc, nil, err
		}
		var cfg ocispec.Image
		if err := read(m.Config, &cfg); err != nil {
			return desc, nil, err
		}
		plats = append(plats, cfg.Platform)
	}
	return desc, plats, nil
}
