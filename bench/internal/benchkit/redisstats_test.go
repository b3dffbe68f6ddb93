package benchkit

import "testing"

func TestRedisOperationsPerRequest(t *testing.T) {
	before := RedisCounters{reads: 10, commands: map[string]int64{"get": 5, "info": 1, "set": 2}}
	tests := []struct {
		name  string
		after RedisCounters
		n     int
		want  PerOp
	}{
		{"no operations", before, 0, PerOp{}},
		{"info call only", RedisCounters{reads: 11, commands: map[string]int64{"get": 5, "info": 2, "set": 2}}, 1,
			PerOp{RoundTrips: 0, Detail: ""}},
		{"two ops, new command", RedisCounters{reads: 15, commands: map[string]int64{"get": 9, "info": 2, "set": 2, "evalsha": 2}}, 2,
			PerOp{RoundTrips: 2, Detail: "EVALSHA 1.000, GET 2.000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Delta(before, tc.after, tc.n); got != tc.want {
				t.Errorf("Delta = %+v, want %+v", got, tc.want)
			}
		})
	}
}
