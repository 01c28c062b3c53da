package testimages

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// countingWriter counts the bytes written through it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// rootfsLayer copies the root filesystem tar read from src into a gzip
// layer file at dst and returns the layer (its blob backed by dst). Entry
// names lose their leading "./"; device nodes and FIFOs are left out, as a
// container runtime supplies /dev itself. Owners, modes, times, links and
// extended attributes are kept.
func rootfsLayer(src io.Reader, dst string) (layer, error) {
	f, err := os.Create(dst)
	if err != nil {
		return layer{}, fmt.Errorf("layer: %w", err)
	}
	defer f.Close()
	gzDigest, rawDigest := digest.Canonical.Digester(), digest.Canonical.Digester()
	size := &countingWriter{}
	zw, err := gzip.NewWriterLevel(io.MultiWriter(f, gzDigest.Hash(), size), gzip.BestSpeed)
	if err != nil {
		return layer{}, err
	}
	tw := tar.NewWriter(io.MultiWriter(zw, rawDigest.Hash()))
	if err := copyRootfs(tar.NewReader(src), tw); err != nil {
		return layer{}, err
	}
	if err := tw.Close(); err != nil {
		return layer{}, fmt.Errorf("layer: close tar: %w", err)
	}
	if err := zw.Close(); err != nil {
		return layer{}, fmt.Errorf("layer: close gzip: %w", err)
	}
	if err := f.Close(); err != nil {
		return layer{}, fmt.Errorf("layer: %w", err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: gzDigest.Digest(), Size: size.n}
	return layer{blob: blob{desc: desc, path: dst}, diffID: rawDigest.Digest()}, nil
}

// copyRootfs copies every entry of tr to tw as rootfsLayer describes.
func copyRootfs(tr *tar.Reader, tw *tar.Writer) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read root filesystem tar: %w", err)
		}
		switch hdr.Typeflag {
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			continue
		}
		hdr.Name = strings.TrimPrefix(hdr.Name, "./")
		if hdr.Name == "" {
			continue
		}
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = strings.TrimPrefix(hdr.Linkname, "./")
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("layer entry %s: %w", hdr.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("layer entry %s: %w", hdr.Name, err)
		}
	}
}
