// Package benchkit holds what caddy-stepup's benchmark programs share: a
// latency recorder and the HTTP transport that feeds it, Redis server
// counters, a process's CPU time, the OTP webhook receiver, the gateway's
// profile fetch, report helpers and memload's result format.
package benchkit
