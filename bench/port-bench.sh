#!/usr/bin/env bash
# Published ports: a 512 MB download and 20,000 small requests (ab, concurrency 50) from a busybox
# httpd in a container, through swcompose's published port, through docker-proxy (docker's userland
# proxy, run by hand against the same container) and straight to the container's address, all in
# the same run. Exits 1 when a goal of issue 23 is missed: throughput >= 0.8x direct and >= 1.5x
# docker-proxy, request rate >= 0.8x direct.
#
# usage: bench/port-bench.sh [ROUNDS]
# Needs root, curl, ab (apache2-utils), docker-proxy (docker.io) and Debian's busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
rounds=${1:-5}
work=$(mktemp -d /var/tmp/swcompose-port-bench.XXXXXX)
export SWCOMPOSE_ROOT=$work/state
proxy=
# 180,000 connections from this host to the container's address in a few minutes: TIME_WAIT sockets
# would hold every ephemeral port for the last targets measured. Reused (as on loopback), put back after.
tw_reuse=$(cat /proc/sys/net/ipv4/tcp_tw_reuse)
echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse
cleanup() {
  echo "$tw_reuse" > /proc/sys/net/ipv4/tcp_tw_reuse
  [ -n "$proxy" ] && kill "$proxy" 2>/dev/null || true
  (cd "$work/project" 2>/dev/null && "$bin" down -t 0 >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

build_swcompose
make_busybox_tar "$work/busybox.tar"
"$bin" image import "$work/busybox.tar" swcompose-bench/busybox --change 'ENV PATH=/bin' --change 'CMD ["sh"]' >/dev/null
ours=$(free_port)
mkdir -p "$work/project"
# Three identical servers, one per target: each path gets a container (an address) of its own, so that
# the connections one target leaves behind (TIME_WAIT sockets in the server, conntrack entries of
# masqueraded connections, two minutes) cannot slow the next target's connections to the same
# address and port — which of them went last would otherwise decide the request rates.
{
  echo "name: portbench"
  echo "services:"
  for s in web proxied direct; do
    printf '  %s:\n    image: swcompose-bench/busybox\n    pull_policy: never\n' "$s"
    printf '    command: ["sh", "-c", "dd if=/dev/zero of=/www/big bs=1M count=512 2>/dev/null; echo hello > /www/index.html; exec httpd -f -p 80 -h /www"]\n'
    printf '    tmpfs: ["/www:size=600m"]\n'
    printf '    healthcheck:\n      test: ["CMD", "wget", "-qO", "/dev/null", "http://127.0.0.1/index.html"]\n      interval: 1s\n'
    if [ "$s" = web ]; then printf '    ports: ["127.0.0.1:%s:80"]\n' "$ours"; fi
  done
} > "$work/project/compose.yaml"
cd "$work/project"
"$bin" up -d --wait >/dev/null
address() { "$bin" exec -T "$1" sh -c "ip -4 -o addr show eth0" | awk '{split($4, a, "/"); print a[1]}'; }
ip=$(address direct)
proxied=$(address proxied)
dp=$(free_port)
# It reports readiness on descriptor 3, and closes it: give it one to close.
docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port "$dp" -container-ip "$proxied" -container-port 80 3>/dev/null &
proxy=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$dp/index.html" && break; sleep 0.1; done

machine
echo "busybox httpd, a container per target; 512 MB download: median of $rounds (curl); ab -n 20000 -c 50: median of 3; targets in turn"
python3 - "$rounds" "127.0.0.1:$ours" "127.0.0.1:$dp" "$ip:80" <<'PY'
import statistics, subprocess, sys
rounds = int(sys.argv[1])
targets = {"swcompose": sys.argv[2], "docker-proxy": sys.argv[3], "direct": sys.argv[4]}
def download(t):
    out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{speed_download}", f"http://{t}/big"], capture_output=True, text=True, check=True)
    return float(out.stdout) / 1e6
def requests(t):
    out = subprocess.run(["ab", "-q", "-n", "20000", "-c", "50", f"http://{t}/index.html"], capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("Requests per second"))
    failed = next(l for l in out.splitlines() if l.startswith("Failed requests"))
    if not failed.endswith(" 0"): sys.exit(f"ab through {t}: {failed}")
    return float(line.split()[3])
mb = {n: [] for n in targets}
rps = {n: [] for n in targets}
for _ in range(rounds):
    for n, t in targets.items(): mb[n].append(download(t))
for _ in range(3):
    for n, t in targets.items(): rps[n].append(requests(t))
mb = {n: statistics.median(v) for n, v in mb.items()}
rps = {n: statistics.median(v) for n, v in rps.items()}
for n in targets:
    print(f"{n:13s} {mb[n]:8.0f} MB/s  {rps[n]:8.0f} req/s")
goals = [
    ("throughput >= 0.8x direct", mb["swcompose"] / mb["direct"], 0.8),
    ("throughput >= 1.5x docker-proxy", mb["swcompose"] / mb["docker-proxy"], 1.5),
    ("request rate >= 0.8x direct", rps["swcompose"] / rps["direct"], 0.8),
]
missed = 0
for name, ratio, goal in goals:
    ok = ratio >= goal
    missed += not ok
    print(f"{'met   ' if ok else 'MISSED'} {name}: {ratio:.2f}x")
sys.exit(1 if missed else 0)
PY
