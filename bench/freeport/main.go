// Command freeport prints n free TCP ports on 127.0.0.1, one a line, for
// run.sh to give each server of the benchmark its own port.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
)

func main() {
	n := flag.Int("n", 1, "how many ports")
	flag.Parse()
	// Hold every listener until all are chosen so the ports differ.
	var held []net.Listener
	for i := 0; i < *n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatalf("freeport: %v", err)
		}
		held = append(held, ln)
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range held {
		ln.Close()
	}
}
