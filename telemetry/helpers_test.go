package telemetry

import (
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// scrape is what a registry holding the collectors serves: series → value
// (a histogram by its _count), as Prometheus reads it.
func scrape(t *testing.T) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(labels)
			name, value := mf.GetName(), m.GetCounter().GetValue()
			if h := m.GetHistogram(); h != nil {
				name, value = name+"_count", float64(h.GetSampleCount())
			}
			out[name+"{"+strings.Join(labels, ",")+"}"] = value
		}
	}
	return out
}

// moved is how much each series changed between two scrapes (only those
// that did, series new in after included).
func moved(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for s, v := range after {
		if d := v - before[s]; d != 0 {
			out[s] = d
		}
	}
	return out
}

func wantMoved(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	for s, w := range want {
		if got[s] != w {
			t.Errorf("%s: %s moved by %v, want %v", what, s, got[s], w)
		}
	}
	for s, g := range got {
		if _, ok := want[s]; !ok {
			t.Errorf("%s: %s moved by %v, want no change", what, s, g)
		}
	}
}
