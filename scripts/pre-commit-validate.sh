#!/usr/bin/env bash
# The pre-commit hook `redis-topology-validate` (.pre-commit-hooks.yaml): runs
# `redis-topology validate` on each topology file pre-commit passes, or, with no file (a hook
# set to `pass_filenames: false`), on the one the CLI defaults to, topology.yaml.
#
# pre-commit runs `<this script> <hook args...> <files...>`: leading arguments that start with
# `-` are validate's options (--strict, --env ENV or --env=ENV, --format FORMAT, --quiet), the
# rest are files. Every file is validated, and the hook fails if any is invalid.
set -uo pipefail

tool=${REDIS_TOPOLOGY:-redis-topology}
if ! command -v "$tool" >/dev/null 2>&1; then
  echo "redis-topology-validate: \`$tool\` is not on PATH. This hook runs the installed binary (it builds nothing):" >&2
  echo "  cargo install --locked --git https://github.com/redis-topology/redis-topology --tag v0.1.0 redis-topology" >&2
  echo "or set REDIS_TOPOLOGY to its path." >&2
  exit 1
fi

options=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    --env | --format | --color)
      if [ $# -lt 2 ]; then
        echo "redis-topology-validate: $1 needs a value (in args: [$1, VALUE] or [$1=VALUE])" >&2
        exit 1
      fi
      options+=("$1" "$2"); shift 2 ;;
    -*) options+=("$1"); shift ;;
    *) break ;;
  esac
done

if [ $# -eq 0 ]; then
  exec "$tool" validate ${options[@]+"${options[@]}"}
fi
status=0
for file in "$@"; do
  "$tool" validate "$file" ${options[@]+"${options[@]}"} || status=1
done
exit "$status"
