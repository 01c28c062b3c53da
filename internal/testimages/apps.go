package testimages

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"
)

// debianPath is the PATH of the Debian-based images.
const debianPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// RedisConf is the redis image's /etc/redis/redis.conf: every address,
// no protected mode, in the foreground, logs on stdout, snapshots in /data.
const RedisConf = `# shoal lab image: listens on every address, keeps its data in /data.
bind 0.0.0.0
port 6379
protected-mode no
daemonize no
supervised no
loglevel notice
logfile ""
databases 16
dir /data
dbfilename dump.rdb
save 3600 1 300 100 60 10000
appendonly no
`

// nginxSite is the nginx image's default site: port 80 (IPv4 only, so that
// it starts where a container has no IPv6), /var/www/html.
const nginxSite = `server {
	listen 80 default_server;
	server_name _;
	root /var/www/html;
	index index.html;
	location / {
		try_files $uri $uri/ =404;
	}
}
`

// NginxPage is the page the nginx image serves at /: it names the image.
func NginxPage(tag, version string) string {
	return fmt.Sprintf("<!DOCTYPE html>\n<html><head><title>nginx:%[1]s</title></head>\n"+
		"<body><h1>shoal lab image nginx:%[1]s</h1><p>nginx %[2]s from Debian packages</p></body></html>\n", tag, version)
}

// appImages are the application images BuildApps makes.
var appImages = []debImage{
	{
		name:       "redis",
		packages:   []string{"redis-server"},
		tagPackage: "redis-server",
		files: func(tag, version string) map[string]string {
			return map[string]string{"etc/redis/redis.conf": RedisConf}
		},
		script: `mkdir -p "$root/data"`,
		config: func(tag string) runConfig {
			return runConfig{
				ExposedPorts: map[string]struct{}{"6379/tcp": {}},
				Env:          []string{debianPath},
				Cmd:          []string{"redis-server", "/etc/redis/redis.conf"},
				WorkingDir:   "/data",
				StopSignal:   "SIGTERM",
				Healthcheck: &healthConfig{
					Test:     []string{"CMD", "redis-cli", "ping"},
					Interval: 2 * time.Second, Timeout: 3 * time.Second, Retries: 3,
				},
			}
		},
	},
	{
		name:       "nginx",
		packages:   []string{"nginx"},
		tagPackage: "nginx",
		files: func(tag, version string) map[string]string {
			return map[string]string{
				"etc/nginx/sites-available/default": nginxSite,
				"var/www/html/index.html":           NginxPage(tag, version),
			}
		},
		// Logs go to the container's stdout and stderr, as docker's nginx.
		script: `rm -f "$root"/var/www/html/index.nginx-debian.html
ln -sf /dev/stdout "$root/var/log/nginx/access.log"
ln -sf /dev/stderr "$root/var/log/nginx/error.log"`,
		config: func(tag string) runConfig {
			return runConfig{
				ExposedPorts: map[string]struct{}{"80/tcp": {}},
				Env:          []string{debianPath},
				Cmd:          []string{"nginx", "-g", "daemon off;"},
				WorkingDir:   "/",
				StopSignal:   "SIGQUIT",
			}
		},
	},
}

// BuildApps builds the application images, redis (redis-server) and nginx,
// from the Debian packages the host's apt sources offer, with mmdebstrap
// (which must be installed; root is needed), into dir ($SHOAL_APP_IMAGE_CACHE
// or else DefaultAppCacheDir when empty), and returns them in that order, tagged with the upstream
// major version (redis:7, nginx:1).
//
// An archive is reused without running mmdebstrap when its cache key
// matches: the candidate versions and .deb hashes that the host's apt-cache
// gives for the packages' dependency closure (so "apt-get update" brings new
// versions in), the sources, and the image's files and config. Concurrent
// builders, in this process or others, wait for each other on a lock in
// dir. logf (nil for none) gets one line per image: cached or built.
func BuildApps(ctx context.Context, dir string, logf func(format string, args ...any)) ([]Image, error) {
	if dir == "" {
		dir = os.Getenv("SHOAL_APP_IMAGE_CACHE")
	}
	if dir == "" {
		dir = DefaultAppCacheDir
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("app images: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("app images: %w", err)
	}
	defer unlock()
	removeLeftovers(dir, logf)
	suite, sources := hostSources()
	imgs := make([]Image, 0, len(appImages))
	for _, ai := range appImages {
		b, err := planDebImage(ctx, ai, suite, sources)
		if err != nil {
			return nil, err
		}
		img, err := buildDebImage(ctx, b, dir, logf)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

// MirrorUnreachable says why BuildApps cannot reach the Debian mirror
// deb.debian.org (a TCP connection within 5 seconds), or returns "" when it
// can or when $SHOAL_DEBIAN_SOURCES names other sources. Tests use it to
// skip with a reason.
func MirrorUnreachable() string {
	if os.Getenv("SHOAL_DEBIAN_SOURCES") != "" {
		return ""
	}
	c, err := net.DialTimeout("tcp", "deb.debian.org:80", 5*time.Second)
	if err != nil {
		return fmt.Sprintf("the Debian mirror deb.debian.org cannot be reached (%v) to build the images; set SHOAL_DEBIAN_SOURCES to a reachable mirror", err)
	}
	c.Close()
	return ""
}
