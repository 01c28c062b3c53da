package lb

// LastOps returns how many nftables operations the last Apply of an
// nftables dataplane committed.
func LastOps(dp Dataplane) int {
	d := dp.(*nftDP)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastOps
}
