#!/usr/bin/env bash
# Builds ./caddy with this module, using pinned Caddy and xcaddy versions, then
# checks that the binary lists the module and accepts the example config.
#   ./xcaddy.sh            build ./caddy
#   OUTPUT=/tmp/caddy ./xcaddy.sh
set -euo pipefail

CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
XCADDY_VERSION="v0.4.5"
here="$(cd "$(dirname "$0")" && pwd)"
output="${OUTPUT:-$here/caddy}"

export PATH="$(go env GOPATH)/bin:$PATH"
if ! xcaddy version 2>/dev/null | grep -q "${XCADDY_VERSION}"; then
	echo "installing xcaddy ${XCADDY_VERSION}" >&2
	go install "github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}"
fi

cd "$here"
XCADDY_SKIP_CLEANUP=0 xcaddy build "${CADDY_VERSION}" \
	--output "$output" \
	--with "github.com/caddy-stepup/caddy-stepup@v0.0.0=$here"

for id in stepup http.handlers.stepup http.handlers.stepup_session; do
	if ! "$output" list-modules | grep -x "$id" >/dev/null; then
		echo "xcaddy.sh: the built caddy does not list module $id" >&2
		exit 1
	fi
done
"$output" version
"$output" adapt --config "$here/Caddyfile.example" --validate >/dev/null
echo "built $output with caddy-stepup" >&2
