package benchkit

import (
	"fmt"
	"net/http"
	"os"
)

// StartProfile fetches, in the background, a CPU profile of seconds from
// the gateway's /debug/pprof/profile URL into the file out. The returned
// func waits for it and says what went wrong, if anything; with url or out
// empty there is nothing to fetch.
func StartProfile(url, out string, seconds int) (wait func() error) {
	if url == "" || out == "" {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() { done <- fetchProfile(fmt.Sprintf("%s?seconds=%d", url, seconds), out) }()
	return func() error { return <-done }
}

func fetchProfile(url, out string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	_, _ = f.ReadFrom(resp.Body)
	return nil
}
