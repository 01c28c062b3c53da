package api

// Limit is one row of the front door's limits as the cluster applies
// them: GET /v1/cluster/limits answers a list of them.
type Limit struct {
	Key     string `json:"Key"`
	Value   int64  `json:"Value"`
	Default int64  `json:"Default"`
	Why     string `json:"Why"`
}

// LimitsUpdate changes the cluster's overrides of the limits
// (PUT /v1/cluster/limits): Set raises or lowers a limit by key, Reset
// returns one to its default. The answer is the new list.
type LimitsUpdate struct {
	Set   map[string]int64 `json:"Set,omitempty"`
	Reset []string         `json:"Reset,omitempty"`
}
