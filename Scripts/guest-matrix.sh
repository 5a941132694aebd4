#!/usr/bin/env bash
# Inside a kernel-matrix guest (Scripts/kernel-matrix.sh starts it): the root test suites named by $1,
# the quickstart as the README's first command brings it up, and a look for anything left behind.
# $2 is the directory of the build to test (swcompose, swcompose-runtime and the test bundle).
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$repo/.build/debug}
bin=$build/swcompose
status=0
fail() { echo "MATRIX FAIL: $*"; status=1; }

echo "== kernel $(uname -r), /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), init is $(cat /proc/1/comm)"
"$bin" info || fail "swcompose info"

echo "== test suites: $1"
"$build/swcomposePackageTests.xctest" --testing-library swift-testing --filter "$1" || fail "test suites"

echo "== quickstart"
export SWCOMPOSE_BIN=$bin WEB_PORT=8080
page=$("$repo/Scripts/demo.sh" quickstart 2>&1) || fail "quickstart up: $page"
echo "$page" | tail -n 4
echo "$page" | grep -q "migration: done" || fail "the quickstart page does not show the migration"
"$repo/Scripts/demo.sh" down quickstart || fail "quickstart down"

echo "== anything left behind?"
left=$(
  pgrep -af '__supervise|__init|__exec|swcompose-runtime' | grep -v pgrep
  grep -E ' overlay |/var/lib/swcompose|/var/tmp/cli-' /proc/self/mounts
  find /sys/fs/cgroup -maxdepth 2 \( -name swcompose -o -name 'swcompose-*.scope' \) 2>/dev/null
  ip -br link | grep -E '^(sw-|veth)'
  for save in iptables-legacy-save iptables-nft-save; do $save 2>/dev/null | grep -E 'SWC|SWCOMPOSE' | sed "s/^/$save: /"; done
  ls /var/lib/swcompose/containers 2>/dev/null | grep -v '^\.'
  ls -d /var/tmp/cli-* /var/tmp/swcompose-* 2>/dev/null
)
if [ -n "$left" ]; then fail "left behind:"; echo "$left"; else echo "nothing"; fi
[ $status = 0 ] && echo "MATRIX PASS" || echo "MATRIX FAILED"
exit $status
