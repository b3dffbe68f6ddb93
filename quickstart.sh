#!/usr/bin/env bash
# The quick start: builds ./caddy with caddy-stepup (xcaddy.sh), builds the
# demo page (demo/build.sh), then serves Caddyfile.example:
#   https://localhost:8443/   the step-up demo (OTP codes appear in this terminal)
# Needs Go and Node.js 20 with npm.
set -euo pipefail
cd "$(dirname "$0")"
./xcaddy.sh
demo/build.sh
echo
echo "Open https://localhost:8443/ (Caddy's local CA: accept the certificate warning)."
echo "Login and step-up codes are printed below, in lines with \"msg\":\"otp code\"."
echo
exec ./caddy run --config Caddyfile.example --adapter caddyfile
