package lab

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/shoal-org/shoal/internal/testimages"
)

// PushTestImages builds the test images (web:v1..v3, crash, unhealthy) into
// DataDir/images, unless a build is there already, pushes them into the lab
// registry and returns their full references (REGISTRY/NAME:TAG) in build
// order. Builds are reproducible, so a cached archive is the same image.
func (l *Lab) PushTestImages(ctx context.Context) ([]string, error) {
	imgs, err := testimages.Build(ctx, filepath.Join(l.cfg.DataDir, "images"))
	if err != nil {
		return nil, fmt.Errorf("lab: build test images: %w", err)
	}
	refs := make([]string, 0, len(imgs))
	for _, img := range imgs {
		ref := img.Name + ":" + img.Tag
		if err := l.Push(ctx, img.Path, ref); err != nil {
			return nil, err
		}
		refs = append(refs, RegistryAddr()+"/"+ref)
	}
	return refs, nil
}
