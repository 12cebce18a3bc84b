#!/usr/bin/env bash
# The main job on the shipped topology, on a fresh machine: get a local redis-server
# (installing it from Debian's packages if missing), then validate, plan, apply and plan again.
#   scripts/demo.sh [ENV]      (ENV defaults to dev)
#   scripts/demo.sh --binary   prints where the release binary is built, and exits
set -euo pipefail
cd "$(dirname "$0")/.."

# Where cargo puts the release binary: target/, or $CARGO_TARGET_DIR (or a config's
# build.target-dir), as cargo itself says.
release_binary() {
  local target_dir
  target_dir=$(cargo metadata --format-version 1 --no-deps --locked \
    | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
  echo "$target_dir/release/redis-topology"
}
if [ "${1:-}" = "--binary" ]; then
  release_binary
  exit 0
fi
env_name="${1:-dev}"

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server is not installed; installing it (apt-get)..." >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

# A throwaway server on a free loopback port, stopped on exit.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 6390)
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize yes \
  --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
# Stopped by its pid: once apply has disabled `default`, an unauthenticated SHUTDOWN is refused.
trap 'kill "$(cat "$dir/redis.pid" 2>/dev/null)" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1 && [ -s "$dir/redis.pid" ]; do sleep 0.1; done

# The topology disables `default` (what a client that does not authenticate is), so the tool
# must not connect as it: it would refuse to lock itself out. Create the apply user of
# docs/operations.md ("Least-privilege users for the tool") for this environment's namespace
# while `default` is still open, and connect as that user.
case "$env_name" in
  dev) namespace=dev-agentic ;;
  *) namespace="${REDIS_NAMESPACE:-agentic}" ;;
esac
apply_password="demo-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# shellcheck disable=SC2046 # one argument per rule
redis-cli -p "$port" ACL SETUSER topology-apply on ">$apply_password" resetchannels -@all \
  $(sed -n '/^ACL SETUSER topology-apply/,/^```/p' docs/operations.md | tr ' ' '\n' \
    | grep -E '^[+~%]' | sed "s/<namespace>/$namespace/g") >/dev/null
export REDIS_URL="redis://topology-apply:$apply_password@127.0.0.1:$port"

# The topology's ACL users take their passwords from the environment (plan and apply compare
# their hashes); give the ones that are not set throwaway values for this demo.
for role in CAMPAIGN_MANAGER CM_SUBSCRIBER ORCHESTRATOR RAG_WORKER PERSIST_WRITER AUDITOR OPS_MONITOR DLQ_READER; do
  var="${role}_PASSWORD"
  [ -n "${!var:-}" ] || export "$var=demo-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
done

# REDIS_TOPOLOGY_BIN: an already built binary (the tests run this script with theirs).
bin="${REDIS_TOPOLOGY_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --locked --quiet
  bin=$(release_binary)
fi
echo "== validate"; $bin validate topology.yaml
echo "== plan --env $env_name"; $bin plan topology.yaml --env "$env_name"
echo "== apply --env $env_name"; $bin apply topology.yaml --env "$env_name" --yes
echo "== plan --env $env_name (again: nothing to do)"; $bin plan topology.yaml --env "$env_name" --detailed-exitcode
