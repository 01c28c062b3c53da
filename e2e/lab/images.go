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
	return l.pushAll(ctx, imgs)
}

// PushAppImages builds the application images redis and nginx from Debian
// packages (see testimages.BuildApps: mmdebstrap, a cache shared by every
// lab in /var/cache/shoal-lab/images, so only the first call builds),
// pushes them into the lab registry and returns their full references
// (REGISTRY/redis:7, REGISTRY/nginx:1), redis first. logf (nil for none)
// gets a line per image saying whether it was built or cached.
func (l *Lab) PushAppImages(ctx context.Context, logf func(format string, args ...any)) ([]string, error) {
	imgs, err := testimages.BuildApps(ctx, "", logf)
	if err != nil {
		return nil, fmt.Errorf("lab: build application images: %w", err)
	}
	return l.pushAll(ctx, imgs)
}

// pushAll pushes imgs and returns their references in order.
func (l *Lab) pushAll(ctx context.Context, imgs []testimages.Image) ([]string, error) {
	refs := make([]string, 0, len(imgs))
	for _, img := range imgs {
		if err := l.Push(ctx, img.Path, img.Ref()); err != nil {
			return nil, err
		}
		refs = append(refs, RegistryAddr()+"/"+img.Ref())
	}
	return refs, nil
}
