package doctor

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"strings"
)

// kernelFix is the fix for a feature a stock Debian kernel has.
const kernelFix = "boot Debian's kernel (apt-get install linux-image-amd64), which has it as a module, or a kernel built with "

// part is one kernel piece: a module name and its Kconfig symbol.
type part struct{ module, config string }

// kernelFacts is what the kernel publishes about its modules, read once.
type kernelFacts struct {
	h       Host
	release string
	loaded  map[string]bool   // /proc/modules
	builtin map[string]bool   // modules.builtin
	dep     map[string]string // module name -> file under /lib/modules/RELEASE
	config  map[string]string // CONFIG_X -> y or m
	fs      map[string]bool   // /proc/filesystems
	sources []string          // what could be read, for the detail of a miss
}

func readKernelFacts(h Host) *kernelFacts {
	k := &kernelFacts{h: h, release: h.KernelRelease(), loaded: map[string]bool{}, builtin: map[string]bool{},
		dep: map[string]string{}, config: map[string]string{}, fs: map[string]bool{}}
	dir := path.Join("/lib/modules", k.release)
	k.read("/proc/modules", true, func(line string) {
		name, _, _ := strings.Cut(line, " ")
		k.loaded[name] = true
	})
	k.sources = append(k.sources, "/sys/module")
	k.read(path.Join(dir, "modules.builtin"), true, func(line string) { k.builtin[moduleName(line)] = true })
	k.read(path.Join(dir, "modules.dep"), true, func(line string) {
		file, _, _ := strings.Cut(line, ":")
		k.dep[moduleName(file)] = path.Join(dir, file)
	})
	k.read("/proc/filesystems", false, func(line string) {
		f := strings.Fields(line)
		if len(f) > 0 {
			k.fs[f[len(f)-1]] = true
		}
	})
	if b, err := h.ReadFile("/proc/config.gz"); err == nil {
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			if cfg, err := io.ReadAll(zr); err == nil {
				k.sources = append(k.sources, "/proc/config.gz")
				for _, line := range strings.Split(string(cfg), "\n") {
					if key, val, ok := strings.Cut(line, "="); ok && strings.HasPrefix(key, "CONFIG_") {
						k.config[strings.TrimPrefix(key, "CONFIG_")] = val
					}
				}
			}
		}
	}
	return k
}

// read feeds each line of file to fn; a source of module facts is noted
// for the detail of a miss.
func (k *kernelFacts) read(file string, source bool, fn func(string)) {
	b, err := k.h.ReadFile(file)
	if err != nil {
		return
	}
	if source {
		k.sources = append(k.sources, file)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fn(sc.Text())
	}
}

// moduleName turns "kernel/net/ipv4/ip_vs-rr.ko.xz" into "ip_vs_rr".
func moduleName(file string) string {
	name, _, _ := strings.Cut(path.Base(strings.TrimSpace(file)), ".ko")
	return strings.ReplaceAll(name, "-", "_")
}

// has says how the kernel has p: "loaded", "built in", "loadable" or ""
// when it does not.
func (k *kernelFacts) has(p part) string {
	switch {
	case k.loaded[p.module]:
		return "loaded"
	case k.h.Exists("/sys/module/" + p.module):
		// Only a loadable module has initstate.
		if k.h.Exists("/sys/module/" + p.module + "/initstate") {
			return "loaded"
		}
		return "built in"
	case k.builtin[p.module], k.config[p.config] == "y":
		return "built in"
	case k.dep[p.module] != "" && k.h.Exists(k.dep[p.module]):
		return "loadable"
	}
	return ""
}

// feature checks that every part is there. It returns the combined "how"
// (e.g. "built in", or "nft_ct built in, nft_fib loadable") and the parts
// that are missing.
func (k *kernelFacts) feature(parts ...part) (how string, missing []string) {
	hows := make([]string, 0, len(parts))
	same := true
	for _, p := range parts {
		h := k.has(p)
		if h == "" {
			missing = append(missing, p.module)
			continue
		}
		same = same && (len(hows) == 0 || strings.HasSuffix(hows[0], " "+h))
		hows = append(hows, p.module+" "+h)
	}
	if len(missing) > 0 {
		return "", missing
	}
	if len(hows) == 1 {
		_, h, _ := strings.Cut(hows[0], " ")
		return h, nil
	}
	if same {
		names := make([]string, len(parts))
		for i, p := range parts {
			names[i] = p.module
		}
		_, h, _ := strings.Cut(hows[0], " ")
		return strings.Join(names, ", ") + ": " + h, nil
	}
	return strings.Join(hows, ", "), nil
}

// notFound is the detail of a feature the kernel lacks.
func (k *kernelFacts) notFound(missing []string) string {
	return fmt.Sprintf("not in kernel %s: %s (looked in %s)", k.release, strings.Join(missing, ", "), strings.Join(k.sources, ", "))
}

// configs lists the Kconfig symbols of parts, for a fix line.
func configs(parts []part) string {
	var s []string
	for _, p := range parts {
		s = append(s, "CONFIG_"+p.config)
	}
	return strings.Join(s, ", ")
}
