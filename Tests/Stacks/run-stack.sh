#!/usr/bin/env bash
# run-stack.sh TOOL STACK -- brings up one stack of Tests/Stacks/stacks with TOOL (`docker` for
# docker compose on dockerd, else the path of a swcompose binary), prints what its probes (the
# stack's probe.sh) see, normalised so that both tools' answers compare, and takes it down again
# (`down -v`). The images come from a Docker Hub mirror the caller set up (build-images.sh's store
# served by docker-registry: SWCOMPOSE_REGISTRY_MIRRORS for swcompose, dockerd's registry-mirrors
# for docker). A step that fails says so in the output and on standard error; the exit status is 0.
#
#   probe.sh may call:
#     http PORTVAR PATH [title]   GET http://127.0.0.1:$PORTVAR/PATH: status, redirect, body (or <title>)
#     tcp PORTVAR 'BYTES'         send BYTES, print the first line of the answer
#     compose_exec SERVICE CMD…   `exec -T` in the service's container
#     logs_count SERVICE TEXT     how many lines of the service's logs contain TEXT
#     wait_for SERVICE CMD…       until CMD succeeds in the service (a database initialising)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tool=${1:?usage: run-stack.sh TOOL STACK}
stack=${2:?usage: run-stack.sh TOOL STACK}
work=$(mktemp -d /var/tmp/stack-run.XXXXXX)
cp -r "$here/stacks/$stack" "$work/$stack"
cd "$work/$stack" || exit 1
project=stack-$stack
if [ "$tool" = docker ]; then compose=(docker compose -p "$project"); else compose=("$tool" -p "$project"); fi
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-1} COMPOSE_PROGRESS=plain

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_vars=$(grep -o '\${[A-Z_]*PORT' compose.yaml | sed 's/^\${//' | sort -u)
for var in $port_vars; do export "$var=$(free_port)"; done
normalise() {
  local text
  text=$(cat)
  for var in $port_vars; do text=$(printf '%s' "$text" | sed -E "s/(^|[^0-9])${!var}([^0-9]|$)/\1\$$var\2/g"); done
  printf '%s\n' "$text" | sed -e 's/\r$//'
}

up_ok=true
if timeout 900 "${compose[@]}" up -d --wait >"$work/up.log" 2>&1; then
  echo "up: ok"
else
  up_ok=false
  echo "up: FAILED"
  tail -n 40 "$work/up.log" >&2
fi

http() {
  local var=$1 path=$2 what=${3:-body} port=${!1} code="" redirect="" deadline=$((SECONDS + 60))
  while :; do
    local out
    out=$(curl -s -o "$work/body" -w '%{http_code} %{redirect_url}' --max-time 20 "http://127.0.0.1:$port$path")
    code=${out%% *}
    redirect=${out#* }
    # Only an answer that is not there yet is waited for: nothing listening, or a proxy whose upstream
    # does not listen yet.
    if [ "$code" != 000 ] && [ "$code" != 502 ]; then break; fi
    [ $SECONDS -lt $deadline ] && $up_ok || break
    sleep 0.5
  done
  echo "GET $path: $code${redirect:+ -> $redirect}" | normalise
  touch "$work/body"
  if [ "$what" = title ]; then
    grep -o '<title>[^<]*</title>' "$work/body" | head -n 1 | normalise
  else
    normalise <"$work/body"
  fi
}

# Waits (up to 120 s) until CMD succeeds in the service's container: a database still initialising
# after `up --wait`, as under either tool; prints whether it came.
wait_for() {
  local service=$1 deadline=$((SECONDS + 120))
  shift
  while ! "${compose[@]}" exec -T "$service" "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ] || ! $up_ok; then echo "wait $service: gave up"; return; fi
    sleep 1
  done
  echo "wait $service: ready"
}

tcp() {
  local port=${!1}
  python3 - "$port" "$2" <<'PYTHON' | normalise
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode())
print(s.makefile("rb").readline().decode().rstrip("\r\n"))
PYTHON
}

compose_exec() {
  local service=$1
  shift
  echo "exec $service: $*"
  "${compose[@]}" exec -T "$service" "$@" 2>&1 | normalise
}

logs_count() {
  echo "logs $1 containing \"$2\": $("${compose[@]}" logs --no-log-prefix "$1" 2>&1 | grep -c -- "$2")"
}

. "$here/stacks/$stack/probe.sh"

if timeout 300 "${compose[@]}" down -v -t 10 >"$work/down.log" 2>&1; then
  echo "down: ok"
else
  echo "down: FAILED"
  tail -n 20 "$work/down.log" >&2
fi
cd / && rm -rf "$work"
exit 0
