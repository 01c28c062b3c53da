package types

import (
	"time"
)

// Meta is carried by every stored object. Version is the raft index of the
// write that last changed the object; a write may name the version it read
// (Op.IfVersion) so that concurrent read-modify-writes cannot overwrite each
// other. CreatedAt/UpdatedAt come from the leader's log timestamp, so every
// replica stores the same values.
type Meta struct {
	Version   uint64    `json:"Version"`
	CreatedAt time.Time `json:"CreatedAt"`
	UpdatedAt time.Time `json:"UpdatedAt"`
}

// Cluster is the single row describing the cluster itself, including the
// secrets every agent needs to admit new nodes (any agent may serve a join).
type Cluster struct {
	Meta
	ID         string `json:"ID"`
	CACertPEM  []byte `json:"CACertPEM"`
	CAKeyPEM   []byte `json:"CAKeyPEM"`
	GossipKey  []byte `json:"GossipKey"`
	JoinSecret string `json:"JoinSecret"`
	// OverlayCIDR is split into per-node subnets (issue 4).
	OverlayCIDR string `json:"OverlayCIDR,omitempty"`
	// TaskHistory is how many finished tasks to keep per slot.
	TaskHistory int `json:"TaskHistory,omitempty"`
	// Limits overrides the front door's limits (package spec's table) by
	// key, e.g. {"replicas": 50000}; absent keys keep the default.
	Limits map[string]int64 `json:"Limits,omitempty"`
	// Generation is the cluster's recovery generation
	// (membership.Generation.String; "" means 1). A leader raises it to its
	// own when it takes office, so the replicated state says which
	// generation wrote it.
	Generation string `json:"Generation,omitempty"`
}

// NodeStatus is what membership says about a node.
type NodeStatus string

const (
	NodeReady   NodeStatus = "ready"
	NodeDown    NodeStatus = "down"
	NodeUnknown NodeStatus = "unknown"
)

// Availability is the operator's wish for a node.
type Availability string

const (
	AvailabilityActive Availability = "active"
	AvailabilityPause  Availability = "pause"
	AvailabilityDrain  Availability = "drain"
)

// Role is a node's place in the raft configuration.
type Role string

const (
	RoleVoter    Role = "voter"
	RoleNonvoter Role = "nonvoter"
)

// Platform describes the node's OS and architecture.
type Platform struct {
	OS           string `json:"OS"`
	Architecture string `json:"Architecture"`
}

// Resources are CPU (in units of 1e-9 CPUs) and memory (bytes).
type Resources struct {
	NanoCPUs    int64 `json:"NanoCPUs,omitempty"`
	MemoryBytes int64 `json:"MemoryBytes,omitempty"`
}

// Node is one agent's entry in the cluster.
type Node struct {
	Meta
	ID       string `json:"ID"`
	Hostname string `json:"Hostname"`
	// Addr is the advertised underlay address (IP only).
	Addr       string `json:"Addr"`
	APIPort    int    `json:"APIPort"`
	RaftPort   int    `json:"RaftPort"`
	GossipPort int    `json:"GossipPort"`

	Availability Availability      `json:"Availability"`
	Labels       map[string]string `json:"Labels,omitempty"`

	Status        NodeStatus `json:"Status"`
	StatusMessage string     `json:"StatusMessage,omitempty"`
	// StatusSince is when Status last changed.
	StatusSince time.Time `json:"StatusSince"`
	Role        Role      `json:"Role"`

	EngineVersion string    `json:"EngineVersion"`
	Platform      Platform  `json:"Platform"`
	Resources     Resources `json:"Resources"`

	// Subnet is the overlay subnet leased to this node (issue 4).
	Subnet string `json:"Subnet,omitempty"`
	// Dataplane names the load-balancing backend in use (ipvs or nftables).
	Dataplane string `json:"Dataplane,omitempty"`
}

// ServiceMode is replicated (with a replica count) or global.
type ServiceMode struct {
	Global   bool   `json:"Global,omitempty"`
	Replicas uint64 `json:"Replicas"`
}

// Mount is a bind mount, a volume or a tmpfs.
//
//   - bind: Source is an absolute path on the node.
//   - volume: Source names a volume of the node's local driver, created on
//     first use and kept when the task goes; an empty Source is an
//     anonymous volume, the task's own, removed with its container.
//   - tmpfs: an in-memory filesystem of the task's own (no Source), of at
//     most TmpfsSize bytes (0: the kernel's default, half the memory) and
//     mode TmpfsMode (0: 1777).
type Mount struct {
	Type     string `json:"Type"` // bind | volume | tmpfs
	Source   string `json:"Source"`
	Target   string `json:"Target"`
	ReadOnly bool   `json:"ReadOnly,omitempty"`

	TmpfsSize int64  `json:"TmpfsSize,omitempty"`
	TmpfsMode uint32 `json:"TmpfsMode,omitempty"`
}

// RestartPolicy says when a finished task is replaced.
type RestartPolicy struct {
	Condition   string        `json:"Condition"` // none | on-failure | any
	Delay       time.Duration `json:"Delay"`
	MaxAttempts uint64        `json:"MaxAttempts,omitempty"`
	Window      time.Duration `json:"Window,omitempty"`
}

// Placement constrains where a service's tasks may run.
type Placement struct {
	Constraints []string `json:"Constraints,omitempty"`
	// Preferences are label names to spread over, e.g. "node.labels.zone".
	Preferences []string `json:"Preferences,omitempty"`
	MaxReplicas uint64   `json:"MaxReplicas,omitempty"`
	// Strategy is spread (default) or binpack.
	Strategy string `json:"Strategy,omitempty"`
}

// HealthConfig is a task healthcheck; Test follows docker's form
// (["CMD", ...], ["CMD-SHELL", "..."], ["NONE"]).
type HealthConfig struct {
	Test        []string      `json:"Test,omitempty"`
	Interval    time.Duration `json:"Interval,omitempty"`
	Timeout     time.Duration `json:"Timeout,omitempty"`
	Retries     int           `json:"Retries,omitempty"`
	StartPeriod time.Duration `json:"StartPeriod,omitempty"`
}

// TaskTemplate is what every task of a service runs. Any change to it makes
// every slot outdated.
type TaskTemplate struct {
	Image           string        `json:"Image"`
	Command         []string      `json:"Command,omitempty"`
	Args            []string      `json:"Args,omitempty"`
	Env             []string      `json:"Env,omitempty"`
	Dir             string        `json:"Dir,omitempty"`
	User            string        `json:"User,omitempty"`
	Mounts          []Mount       `json:"Mounts,omitempty"`
	Limits          Resources     `json:"Limits"`
	Reservations    Resources     `json:"Reservations"`
	RestartPolicy   RestartPolicy `json:"RestartPolicy"`
	Placement       Placement     `json:"Placement"`
	StopSignal      string        `json:"StopSignal,omitempty"`
	StopGracePeriod time.Duration `json:"StopGracePeriod,omitempty"`
	Healthcheck     *HealthConfig `json:"Healthcheck,omitempty"`
	Networks        []string      `json:"Networks,omitempty"`
	// Aliases are more DNS names of the service on networks it joins
	// (network name -> names), docker's network aliases: the resolver
	// answers them with the service's VIP, to tasks on that network only.
	// `stack deploy` gives every service its short name on the stack's
	// networks this way.
	Aliases map[string][]string `json:"Aliases,omitempty"`
	// Secrets and Configs are files the task gets on an in-memory
	// filesystem, read-only (see FileRef).
	Secrets     []FileRef         `json:"Secrets,omitempty"`
	Configs     []FileRef         `json:"Configs,omitempty"`
	ForceUpdate uint64            `json:"ForceUpdate,omitempty"`
	Labels      map[string]string `json:"Labels,omitempty"`
	Extra       map[string]string `json:"Extra,omitempty"`

	// Hostname is the task's hostname, a Go template over the task as
	// docker's is ({{.Service.Name}}, {{.Task.Slot}}, {{.Node.Hostname}},
	// …); empty: the first 12 characters of the task's ID.
	Hostname string `json:"Hostname,omitempty"`
	// Hosts are more lines of the task's /etc/hosts, "IP NAME [ALIAS...]"
	// as docker's ContainerSpec.Hosts.
	Hosts []string `json:"Hosts,omitempty"`
	// DNS adds to the task's resolv.conf; see DNSConfig.
	DNS *DNSConfig `json:"DNS,omitempty"`
}

// DNSConfig is what a task's resolv.conf says besides the node's resolver,
// which always comes first (it answers the service names): Nameservers
// follow it (a client turns to them when the resolver cannot answer a
// name it does not serve), Search and Options are written as given.
type DNSConfig struct {
	Nameservers []string `json:"Nameservers,omitempty"`
	Search      []string `json:"Search,omitempty"`
	Options     []string `json:"Options,omitempty"`
}

// UpdateConfig is swarm's update (and rollback) configuration.
type UpdateConfig struct {
	// Parallelism is the number of slots replaced at once; 0 means all at
	// once (as in swarm) and nil means unset: the server fills the default
	// (spec.Defaults), so a stored spec always has it.
	Parallelism     *uint64       `json:"Parallelism,omitempty"`
	Delay           time.Duration `json:"Delay"`
	FailureAction   string        `json:"FailureAction"` // pause | continue | rollback
	Monitor         time.Duration `json:"Monitor"`
	MaxFailureRatio float64       `json:"MaxFailureRatio"`
	Order           string        `json:"Order"` // stop-first | start-first
}

// PortConfig publishes a task port on every node.
type PortConfig struct {
	Protocol      string `json:"Protocol"` // tcp | udp
	TargetPort    uint16 `json:"TargetPort"`
	PublishedPort uint16 `json:"PublishedPort"`
}

// EndpointSpec selects how a service is reached.
type EndpointSpec struct {
	Mode  string       `json:"Mode,omitempty"` // vip | dnsrr
	Ports []PortConfig `json:"Ports,omitempty"`
}

// ServiceSpec is what the user asked for.
type ServiceSpec struct {
	Name     string            `json:"Name"`
	Labels   map[string]string `json:"Labels,omitempty"`
	Task     TaskTemplate      `json:"TaskTemplate"`
	Mode     ServiceMode       `json:"Mode"`
	Update   UpdateConfig      `json:"UpdateConfig"`
	Rollback UpdateConfig      `json:"RollbackConfig"`
	Endpoint EndpointSpec      `json:"EndpointSpec"`
}

// UpdateState is the state of a service's rolling update.
type UpdateState string

const (
	UpdateUpdating          UpdateState = "updating"
	UpdatePaused            UpdateState = "paused"
	UpdateCompleted         UpdateState = "completed"
	UpdateRollbackStarted   UpdateState = "rollback_started"
	UpdateRollbackPaused    UpdateState = "rollback_paused"
	UpdateRollbackCompleted UpdateState = "rollback_completed"
)

// UpdateStatus is the progress of a rolling update; it lives in the store so
// that a new leader continues where the old one stopped. The agent starts an
// update (State updating or rollback_started, StartedAt, Message, progress
// fields zero: see rollout.BeginUpdate) and resumes a paused one
// (rollout.ResumeUpdate); the leader's updater (package rollout) writes the
// rest. Which slots are up to date, and since when their new tasks run, is
// read from the tasks themselves; the fields below hold only what the tasks
// cannot tell.
type UpdateStatus struct {
	State       UpdateState `json:"State"`
	StartedAt   time.Time   `json:"StartedAt"`
	CompletedAt time.Time   `json:"CompletedAt,omitempty"`
	Message     string      `json:"Message,omitempty"`
	// Updated counts the slots this update (or rollback) has begun to
	// replace, the current batch included.
	Updated uint64 `json:"Updated,omitempty"`
	// Failures counts the new tasks of this update that failed (ended, or
	// turned unhealthy, before they had run for the monitor period).
	Failures uint64 `json:"Failures,omitempty"`
	// BatchSlots (replicated services: slot numbers) or BatchNodes (global
	// services: node IDs) are the slots of the batch in flight, sorted.
	BatchSlots []int    `json:"BatchSlots,omitempty"`
	BatchNodes []string `json:"BatchNodes,omitempty"`
	// BatchDoneAt is when the last finished batch finished: the next one
	// starts the update's Delay later. Zero before the first batch ends.
	BatchDoneAt time.Time `json:"BatchDoneAt,omitempty"`
}

// Revision is one past spec of a service.
type Revision struct {
	Number    uint64      `json:"Number"`
	Spec      ServiceSpec `json:"Spec"`
	CreatedAt time.Time   `json:"CreatedAt"`
	Cause     string      `json:"Cause,omitempty"`
}

// Service is a spec plus everything the cluster tracks about it.
type Service struct {
	Meta
	ID           string       `json:"ID"`
	Spec         ServiceSpec  `json:"Spec"`
	PreviousSpec *ServiceSpec `json:"PreviousSpec,omitempty"`
	// SpecVersion increases with every change to Spec; tasks record the
	// SpecVersion they were made from.
	SpecVersion  uint64        `json:"SpecVersion"`
	Revisions    []Revision    `json:"Revisions,omitempty"`
	UpdateStatus *UpdateStatus `json:"UpdateStatus,omitempty"`
	// VIPs holds the service's virtual IP on each network it joins:
	// network name -> address (e.g. "10.240.0.2"), allocated by the leader
	// from the network's VIP block, stable for the service's life.
	VIPs map[string]string `json:"VIPs,omitempty"`
	// RegistryAuth is the account the nodes pull the image with (api's
	// RegistryAuth as JSON), sealed with the cluster's data key, the
	// service's ID as additional data. Never returned by a read of the
	// API; only the node that runs a task gets it, from the leader.
	RegistryAuth *Sealed `json:"RegistryAuth,omitempty"`
}

// TaskState follows swarm's task life cycle.
type TaskState string

const (
	TaskNew       TaskState = "new"
	TaskPending   TaskState = "pending"
	TaskAssigned  TaskState = "assigned"
	TaskPreparing TaskState = "preparing"
	TaskStarting  TaskState = "starting"
	TaskRunning   TaskState = "running"
	TaskComplete  TaskState = "complete"
	TaskFailed    TaskState = "failed"
	TaskShutdown  TaskState = "shutdown"
	TaskRejected  TaskState = "rejected"
	TaskOrphaned  TaskState = "orphaned"
	TaskRemove    TaskState = "remove"
)

// taskStateOrder ranks states so that observed state only moves forward.
var taskStateOrder = map[TaskState]int{
	TaskNew: 0, TaskPending: 1, TaskAssigned: 2, TaskPreparing: 3,
	TaskStarting: 4, TaskRunning: 5, TaskComplete: 6, TaskShutdown: 7,
	TaskFailed: 8, TaskRejected: 9, TaskRemove: 10, TaskOrphaned: 11,
}

// Rank orders task states along the life cycle.
func (s TaskState) Rank() int { return taskStateOrder[s] }

// Terminal reports whether a task in state s will never run again.
func (s TaskState) Terminal() bool { return s.Rank() >= TaskComplete.Rank() }

// TaskStatus is what the node agent observed.
type TaskStatus struct {
	State       TaskState `json:"State"`
	Timestamp   time.Time `json:"Timestamp"`
	Message     string    `json:"Message,omitempty"`
	Err         string    `json:"Err,omitempty"`
	ContainerID string    `json:"ContainerID,omitempty"`
	ExitCode    int       `json:"ExitCode,omitempty"`
	// Healthy is nil when the task has no healthcheck.
	Healthy *bool `json:"Healthy,omitempty"`
}

// Task is one scheduled instance of a service.
type Task struct {
	Meta
	ID          string `json:"ID"`
	ServiceID   string `json:"ServiceID"`
	ServiceName string `json:"ServiceName"`
	// Slot numbers replicated tasks from 1; global tasks use 0 and NodeID.
	Slot         int          `json:"Slot"`
	NodeID       string       `json:"NodeID"`
	SpecVersion  uint64       `json:"SpecVersion"`
	Spec         TaskTemplate `json:"Spec"`
	DesiredState TaskState    `json:"DesiredState"`
	Status       TaskStatus   `json:"Status"`
	// Addresses are the task's overlay addresses: network name -> address
	// (e.g. "10.240.1.5"), chosen by the node's IPAM from its lease of the
	// network and reported with the task's status.
	Addresses map[string]string `json:"Addresses,omitempty"`
}

// Network is an overlay network.
type Network struct {
	Meta
	ID   string `json:"ID"`
	Name string `json:"Name"`
	// Subnet is the network's whole range (e.g. 10.240.0.0/16). Its first
	// node-sized block (VIPBlock) holds the services' VIPs; every other block
	// can be leased to a node.
	Subnet string `json:"Subnet"`
	VNI    uint32 `json:"VNI"`
	// Default marks the network services join when they name none.
	Default bool              `json:"Default,omitempty"`
	Labels  map[string]string `json:"Labels,omitempty"`
	// Leases maps node ID -> the node's subnet of this network (a /24 of
	// Subnet by default), given by the leader when the node joins and freed
	// when it is removed.
	Leases map[string]string `json:"Leases,omitempty"`
}

// TaskUpdate is one observed task status, sent by a node's worker to the
// leader (POST /v1/internal/task-status).
type TaskUpdate struct {
	TaskID string     `json:"TaskID"`
	Status TaskStatus `json:"Status"`
	// Addresses, when set, are the task's overlay addresses (network name
	// -> address) from the worker's network setup, for the leader to record in
	// Task.Addresses. They ride on the first update of the task after its
	// network was set up (normally starting) and are never dropped when a
	// newer status of the task replaces an unsent one.
	Addresses map[string]string `json:"Addresses,omitempty"`
}
