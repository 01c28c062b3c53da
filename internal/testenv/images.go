package testenv

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/internal/testimages"
)

var images struct {
	once sync.Once
	dir  string
	byID map[string]testimages.Image
	err  error
}

// Image returns the archive of the lab test image ref ("web:v1",
// "crash:latest", …), building all test images once per test binary into a
// temporary directory. Call CleanupImages from TestMain after m.Run.
func Image(t testing.TB, ref string) testimages.Image {
	t.Helper()
	images.once.Do(func() {
		if images.dir, images.err = os.MkdirTemp("", "shoal-test-images-"); images.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var built []testimages.Image
		built, images.err = testimages.Build(ctx, images.dir)
		images.byID = map[string]testimages.Image{}
		for _, img := range built {
			images.byID[img.Ref()] = img
		}
	})
	if images.err != nil {
		t.Fatalf("build test images: %v", images.err)
	}
	img, ok := images.byID[ref]
	if !ok {
		t.Fatalf("no test image %s", ref)
	}
	return img
}

// CleanupImages removes what Image built.
func CleanupImages() {
	if images.dir != "" {
		os.RemoveAll(images.dir)
	}
}
