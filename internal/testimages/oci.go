package testimages

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// AnnotationImageName is the index annotation containerd's Import reads to
// name an imported image.
const AnnotationImageName = "io.containerd.image.name"

// epoch is the fixed time stamped on every file and in every config, so that
// the same binary always yields the same digests.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// healthConfig is docker's image-config healthcheck (durations in
// nanoseconds), which the OCI image config has no field for.
type healthConfig struct {
	Test        []string      `json:"Test,omitempty"`
	Interval    time.Duration `json:"Interval,omitempty"`
	Timeout     time.Duration `json:"Timeout,omitempty"`
	StartPeriod time.Duration `json:"StartPeriod,omitempty"`
	Retries     int           `json:"Retries,omitempty"`
}

// runConfig is the "config" object of a docker/OCI image config.
type runConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	Healthcheck  *healthConfig       `json:"Healthcheck,omitempty"`
}

type imageConfig struct {
	Created      time.Time         `json:"created"`
	Architecture string            `json:"architecture"`
	OS           string            `json:"os"`
	Config       runConfig         `json:"config"`
	RootFS       ocispec.RootFS    `json:"rootfs"`
	History      []ocispec.History `json:"history"`
}

// imageDef is everything needed to write one image archive.
type imageDef struct {
	name, tag string // repository name and tag, e.g. web, v1
	arch      string
	config    runConfig
	layer     layer // the image's only layer
	// created is the config's creation time and history comment; the
	// fixed epoch when zero.
	created time.Time
	comment string
}

// blob is one content-addressed file of the layout: data in memory, or the
// file at path when path is set.
type blob struct {
	desc ocispec.Descriptor
	data []byte
	path string
}

// layer is an image layer: the compressed blob and the digest of the
// uncompressed tar (the config's diff ID).
type layer struct {
	blob   blob
	diffID digest.Digest
}

// binaryLayer is the layer of an image whose whole filesystem is one static
// executable (see rootfsFiles).
func binaryLayer(binary []byte) (layer, error) {
	raw, err := layerTar(binary)
	if err != nil {
		return layer{}, err
	}
	gz, err := gzipBytes(raw)
	if err != nil {
		return layer{}, fmt.Errorf("compress layer: %w", err)
	}
	return layer{blob: newBlob(ocispec.MediaTypeImageLayerGzip, gz), diffID: digest.FromBytes(raw)}, nil
}

func newBlob(mediaType string, data []byte) blob {
	return blob{desc: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}, data: data}
}

// rootfsFile is one entry of the single layer.
type rootfsFile struct {
	name string
	mode int64
	dir  bool
	data []byte
}

// rootfsFiles is the image's whole filesystem: the binary plus the few files
// a container runtime expects to exist (and to bind-mount over).
func rootfsFiles(binary []byte) []rootfsFile {
	return []rootfsFile{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{name: "etc/hosts", mode: 0o644},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/:/web\nnobody:x:65534:65534:nobody:/:/web\n")},
		{name: "etc/resolv.conf", mode: 0o644},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "web", mode: 0o755, data: binary},
	}
}

// layerTar returns the uncompressed layer: a tar with fixed owners and times.
func layerTar(binary []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range rootfsFiles(binary) {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(f.data))}
		if f.dir {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close layer tar: %w", err)
	}
	return buf.Bytes(), nil
}

func gzipBytes(p []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	// The header's ModTime stays zero so that the output is reproducible.
	if _, err := zw.Write(p); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// layoutBlobs builds the layer, config and manifest blobs of def and the
// index that names it, in the order they are written to the archive.
func layoutBlobs(def imageDef) (blobs []blob, index []byte, err error) {
	created, comment := def.created, def.comment
	if created.IsZero() {
		created = epoch
	}
	if comment == "" {
		comment = def.name + ":" + def.tag
	}
	cfg := imageConfig{
		Created: created, Architecture: def.arch, OS: "linux", Config: def.config,
		RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{def.layer.diffID}},
		History: []ocispec.History{{Created: &created, CreatedBy: "shoal testimages", Comment: comment}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("encode image config: %w", err)
	}
	config := newBlob(ocispec.MediaTypeImageConfig, cfgJSON)
	manifestJSON, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config.desc,
		Layers:    []ocispec.Descriptor{def.layer.blob.desc},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("encode manifest: %w", err)
	}
	manifest := newBlob(ocispec.MediaTypeImageManifest, manifestJSON)
	mdesc := manifest.desc
	mdesc.Platform = &ocispec.Platform{Architecture: def.arch, OS: "linux"}
	mdesc.Annotations = map[string]string{
		ocispec.AnnotationRefName: def.tag,
		AnnotationImageName:       FullName(def.name, def.tag),
	}
	index, err = json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{mdesc},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("encode index: %w", err)
	}
	return []blob{def.layer.blob, config, manifest}, index, nil
}

// FullName is the fully qualified name containerd gives an image that a user
// calls NAME:TAG (docker's normalisation: docker.io/library/NAME:TAG).
func FullName(name, tag string) string {
	return "docker.io/library/" + name + ":" + tag
}

// writeArchive writes def as an oci-archive: a tar of an OCI image layout.
func writeArchive(w io.Writer, def imageDef) error {
	blobs, index, err := layoutBlobs(def)
	if err != nil {
		return fmt.Errorf("image %s:%s: %w", def.name, def.tag, err)
	}
	tw := tar.NewWriter(w)
	put := func(name string, mode int64, data []byte, dir bool) error {
		return putEntry(tw, name, mode, int64(len(data)), bytes.NewReader(data), dir)
	}
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
	}
	for _, f := range files {
		if err := put(f.name, 0o644, f.data, false); err != nil {
			return err
		}
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := put(d, 0o755, nil, true); err != nil {
			return err
		}
	}
	for _, b := range blobs {
		if err := putBlob(tw, b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close archive: %w", err)
	}
	return nil
}

// putEntry writes one archive entry of size bytes read from r (a directory
// when dir).
func putEntry(tw *tar.Writer, name string, mode, size int64, r io.Reader, dir bool) error {
	hdr := &tar.Header{Name: name, Mode: mode, ModTime: epoch, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: size}
	if dir {
		hdr.Typeflag, hdr.Size = tar.TypeDir, 0
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive entry %s: %w", name, err)
	}
	if _, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("archive entry %s: %w", name, err)
	}
	return nil
}

// putBlob writes b under blobs/sha256/, from memory or from its file.
func putBlob(tw *tar.Writer, b blob) error {
	name := "blobs/sha256/" + b.desc.Digest.Encoded()
	if b.path == "" {
		return putEntry(tw, name, 0o644, b.desc.Size, bytes.NewReader(b.data), false)
	}
	f, err := os.Open(b.path)
	if err != nil {
		return fmt.Errorf("archive entry %s: %w", name, err)
	}
	defer f.Close()
	return putEntry(tw, name, 0o644, b.desc.Size, f, false)
}
