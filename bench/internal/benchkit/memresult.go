package benchkit

// MemResult is the gateway's memory under many distinct tokens, as
// memload writes it in JSON and report reads it.
type MemResult struct {
	ValidTokens    int            `json:"valid_tokens"`
	GarbageTokens  int            `json:"garbage_tokens"`
	IdleRSSKiB     int64          `json:"idle_rss_kib"`
	AfterRSSKiB    int64          `json:"after_rss_kib"`
	SettledRSSKiB  int64          `json:"settled_rss_kib"`
	PeakRSSKiB     int64          `json:"peak_rss_kib"`
	ValidStatuses  map[string]int `json:"valid_statuses"`
	GarbageByKind  map[string]int `json:"garbage_by_kind"`
	GarbageStatus  map[string]int `json:"garbage_statuses"`
	ValidSeconds   float64        `json:"valid_seconds"`
	GarbageSeconds float64        `json:"garbage_seconds"`
}
