package benchkit

import (
	"bufio"
	"os"
	"runtime"
	"sync"
)

// MakeLines calls mint(i) for i in [0, n) on every core and writes the
// results to path, one a line (the tokens and proofs wrk sends).
func MakeLines(path string, n int, mint func(i int) string) error {
	lines := make([]string, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				lines[i] = mint(i)
			}
		}(w)
	}
	wg.Wait()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	for _, l := range lines {
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
