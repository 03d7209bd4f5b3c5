#!/usr/bin/env bash
# npm run test:container: builds the real Dockerfile with Podman (on a local base image, see
# base-image.sh) and checks the container as a user would: /health, a search and an execute on a
# stdio server (started with npx) and on an HTTP one, the HEALTHCHECK status, that it runs as
# non-root, and that SIGTERM stops it cleanly within 5 s. Prints the image size and cold start
# time, one line per check, and writes {"passed":N,"failed":M} to $CONTAINER_REPORT if set.
# Needs root (or rootless Podman), podman, runc and debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null || { echo "container test: $tool is missing: install it (apt-get install podman runc debootstrap)" >&2; exit 1; }
done
work="$(mktemp -d /tmp/nexus-container.XXXXXX)"
passed=0
failed=0
fixture_pid=""
image="localhost/nexus:container-test"
name="nexus-container-test-$$"
report() {
  echo "container: $passed passed, $failed failed"
  [ -n "${CONTAINER_REPORT:-}" ] && echo "{\"passed\":$passed,\"failed\":$failed}" >"$CONTAINER_REPORT"
  return 0
}
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  [ -n "$fixture_pid" ] && kill "$fixture_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap 'cleanup; report' EXIT
check() { # name, then a command: counts and prints its outcome
  local what="$1"
  shift
  if "$@" >"$work/check.log" 2>&1; then
    passed=$((passed + 1)); echo "ok   $what"
  else
    failed=$((failed + 1)); echo "FAIL $what"; sed 's/^/     /' "$work/check.log"
  fi
}

# Podman as it works here: runc, and no default ulimits (the sandbox refuses to raise them).
printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' >"$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
base="${BASE_IMAGE:-localhost/nexus-base:bookworm-node22}"
BASE_IMAGE="$base" bash container/base-image.sh
ca=()
# Behind a TLS-intercepting proxy the registry needs the machine's extra CA, in the build and for npx.
[ -s "${NODE_EXTRA_CA_CERTS:-}" ] && ca=(--secret "id=npm_ca,src=$NODE_EXTRA_CA_CERTS")
build_started=$(date +%s)
podman build --pull=never --network=host --format docker --build-arg "NODE_IMAGE=$base" "${ca[@]}" -t "$image" . >"$work/build.log" 2>&1 || {
  cat "$work/build.log" >&2
  failed=$((failed + 1))
  exit 1
}
echo "image: built in $(($(date +%s) - build_started)) s, $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MiB", $1 / 1048576}')"

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
http_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
node test/fixtures/fixture-server.mjs http "$http_port" >"$work/fixture.log" 2>&1 &
fixture_pid=$!
cat >"$work/nexus.toml" <<TOML
[server.health]
enabled = true

[mcp.servers.everything]
cmd = ["npx", "-y", "@modelcontextprotocol/server-everything@$(node -p 'require("@modelcontextprotocol/server-everything/package.json").version')", "stdio"]

[mcp.servers.remote]
url = "http://127.0.0.1:$http_port/mcp"
TOML
# The host's network, on loopback only: nothing of the test is reachable from elsewhere.
run_env=(-e "NEXUS_LISTEN_ADDRESS=127.0.0.1:$port")
if [ -s "${NODE_EXTRA_CA_CERTS:-}" ]; then
  run_env+=(-v "$NODE_EXTRA_CA_CERTS:/etc/ssl/npm-ca.pem:ro" -e NODE_EXTRA_CA_CERTS=/etc/ssl/npm-ca.pem)
fi
started=$(date +%s%N)
# No periodic healthcheck timer (it needs systemd, which a CI machine may not run); the check is run by hand below.
podman run -d --name "$name" --network=host --health-interval=disable -v "$work/nexus.toml:/etc/nexus.toml:ro" "${run_env[@]}" "$image" >/dev/null
healthy=""
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then healthy=1; break; fi
  sleep 0.1
done
if [ -n "$healthy" ]; then
  echo "cold start: $((($(date +%s%N) - started) / 1000000)) ms to /health"
fi
check "/health answers through the container's port" test -n "$healthy"
# Downstreams connect after start; npx fetches the server first.
for _ in $(seq 1 120); do
  podman logs "$name" 2>&1 | grep -q '"downstreams connected"' && break
  sleep 0.5
done
check "search and execute, on a stdio server started with npx and on an HTTP server" node container/probe.mjs "http://127.0.0.1:$port"
check "the HEALTHCHECK passes" podman healthcheck run "$name"
check "it runs as non-root" bash -c "[ \"\$(podman exec $name id -u)\" != 0 ]"
stop_started=$(date +%s%N)
podman stop -t 10 "$name" >/dev/null
stopped_ms=$((($(date +%s%N) - stop_started) / 1000000))
echo "SIGTERM: stopped in $stopped_ms ms, exit code $(podman inspect --format '{{.State.ExitCode}}' "$name")"
check "SIGTERM stops it cleanly within 5 s" bash -c "[ $stopped_ms -lt 5000 ] && [ \"\$(podman inspect --format '{{.State.ExitCode}}' $name)\" = 0 ]"
[ "$failed" -eq 0 ]
