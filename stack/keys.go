package stack

import (
	"encoding/json"
	"maps"
	"slices"

	ctypes "github.com/compose-spec/compose-go/v2/types"
)

// handledKeys are the service keys Convert maps (or refuses by name).
var handledKeys = map[string]bool{
	"deploy": true, "image": true, "command": true, "entrypoint": true, "environment": true, "env_file": true,
	"working_dir": true, "user": true, "stop_signal": true, "stop_grace_period": true, "labels": true,
	"label_file": true, "healthcheck": true, "ports": true, "networks": true, "volumes": true, "restart": true,
	"secrets": true, "configs": true, "tmpfs": true, "tty": true, "network_mode": true,
	"hostname": true, "extra_hosts": true, "dns": true, "dns_search": true, "dns_opt": true,
}

// swarmIgnores are the keys docker stack deploy skips ("Ignoring
// unsupported options" and "Ignoring deprecated options"), and compose
// keys for a single engine that a swarm has no use for.
var swarmIgnores = map[string]bool{
	"build": true, "cgroup_parent": true, "container_name": true, "depends_on": true, "devices": true,
	"domainname": true, "external_links": true, "ipc": true, "links": true, "mac_address": true, "pid": true,
	"privileged": true, "security_opt": true, "shm_size": true, "userns_mode": true, "expose": true,
	"cpu_shares": true, "cpu_quota": true, "cpuset": true, "cpus": true, "mem_limit": true, "memswap_limit": true,
	"mem_reservation": true, "volumes_from": true, "profiles": true, "pull_policy": true, "scale": true,
	"develop": true, "attach": true, "post_start": true, "pre_stop": true, "pre_start": true, "provider": true,
	"dockerfile": true, "blkio_config": true, "cgroup": true, "cpu_count": true, "cpu_percent": true,
	"cpu_period": true, "cpu_rt_period": true, "cpu_rt_runtime": true, "oom_kill_disable": true,
	"oom_score_adj": true, "mem_swappiness": true, "storage_opt": true, "volume_driver": true, "runtime": true,
	"extends": true, "net": true, "log_driver": true, "log_opt": true, "use_api_socket": true,
	"device_cgroup_rules": true, "annotations": true, "gpus": true, "models": true, "platform": true,
	"credential_spec": true, "uts": true,
}

// warnKeys gives one warning line for each key of s that is set and that
// Convert does not map: keys a swarm ignores, and keys (sysctls,
// ulimits, cap_add, …) for which shoal's service spec has no field yet.
func (c *converter) warnKeys(s ctypes.ServiceConfig) {
	for _, k := range setKeys(s) {
		switch {
		case handledKeys[k]:
		case swarmIgnores[k]:
			c.warnf("services.%s.%s: ignored (not supported by a swarm, as with docker stack deploy)", s.Name, k)
		default:
			c.warnf("services.%s.%s: ignored (shoal's service spec has no field for it yet)", s.Name, k)
		}
	}
}

// setKeys lists the compose keys set in s, from its own JSON form (which
// leaves out what is empty).
func setKeys(s ctypes.ServiceConfig) []string {
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	for k, v := range m {
		if string(v) == "null" || string(v) == "{}" || string(v) == "[]" || string(v) == `""` {
			delete(m, k)
		}
	}
	return slices.Sorted(maps.Keys(m))
}
