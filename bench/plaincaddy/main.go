// Command plaincaddy is Caddy with the standard modules and nothing else:
// the baseline of the benchmark. It is built from this module's go.mod, so
// it links exactly the Caddy version and dependencies of tests/caddy, which
// differs from it only by importing caddy-stepup.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
