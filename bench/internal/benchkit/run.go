package benchkit

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// WaitFor polls url until it answers 200, for up to 30 s.
func WaitFor(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not answering: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Parallel runs f(i) for i in [0,n) on c workers.
func Parallel(n, c int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}
