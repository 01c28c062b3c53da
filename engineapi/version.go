package engineapi

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/system"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/fault"
)

// The API versions served: from Debian's docker.io 20.10 (1.41) to the
// newest that the wire types (github.com/moby/moby/api v1.57.0) describe.
const (
	MinAPIVersion = "1.41"
	MaxAPIVersion = "1.57"
)

var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)

type versionKey struct{}

// APIVersion is the version the request named in its /vX.Y prefix, or
// MaxAPIVersion for an unversioned path.
func APIVersion(ctx context.Context) string {
	if v, ok := ctx.Value(versionKey{}).(string); ok {
		return v
	}
	return MaxAPIVersion
}

// withVersion checks and strips a /vX.Y prefix, refusing a version outside
// the served range as Docker does (400), and sets the headers every Docker
// answer carries.
func withVersion(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Api-Version", MaxAPIVersion)
		h.Set("Ostype", "linux")
		h.Set("Docker-Experimental", "false")
		h.Set("Server", "shoal/"+api.Version+" (linux)")
		m := versionPrefix.FindStringSubmatch(r.URL.Path)
		if m == nil {
			next.ServeHTTP(w, r)
			return
		}
		v := m[1]
		var err error
		switch {
		case versionLess(v, MinAPIVersion):
			err = fault.Invalidf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion)
		case versionLess(MaxAPIVersion, v):
			err = fault.Invalidf("client version %s is too new. Maximum supported API version is %s", v, MaxAPIVersion)
		}
		if err != nil {
			serveErr(w, r, err)
			return
		}
		r2 := r.Clone(context.WithValue(r.Context(), versionKey{}, v))
		r2.URL.Path, r2.URL.RawPath = m[2], ""
		next.ServeHTTP(w, r2)
	})
}

// versionLess compares two "major.minor" versions numerically.
func versionLess(a, b string) bool {
	am, an := splitVersion(a)
	bm, bn := splitVersion(b)
	return am < bm || am == bm && an < bn
}

func splitVersion(v string) (int, int) {
	maj, min, _ := strings.Cut(v, ".")
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(min)
	return a, b
}

// ping answers GET and HEAD /_ping: the CLI reads API-Version (set by
// withVersion) and Swarm from its headers.
func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Swarm", "inactive")
	if s.b.Info(r.Context()).InCluster {
		h.Set("Swarm", "active/manager")
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte("OK"))
	}
	return nil
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	kernel := kernelVersion()
	details := map[string]string{"ApiVersion": MaxAPIVersion, "MinAPIVersion": MinAPIVersion, "Os": runtime.GOOS,
		"Arch": runtime.GOARCH, "GoVersion": runtime.Version(), "KernelVersion": kernel}
	return writeJSON(w, http.StatusOK, system.VersionResponse{
		Platform: system.PlatformInfo{Name: "shoal " + api.Version},
		Version:  api.Version, APIVersion: MaxAPIVersion, MinAPIVersion: MinAPIVersion,
		Os: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version(), KernelVersion: kernel,
		Components: []system.ComponentVersion{{Name: "Engine", Version: api.Version, Details: details}},
	})
}

// kernelVersion is the running kernel's release, "" if unreadable.
func kernelVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
