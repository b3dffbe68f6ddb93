// Command caddy is Caddy with the standard modules and caddy-stepup: the
// same program xcaddy.sh builds, compiled by the whole-server tests from
// this checkout with `go build`.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-stepup/caddy-stepup"
)

func main() {
	caddycmd.Main()
}
