#!/usr/bin/env bash
# The kernel matrix: the root test suites, the quickstart and a look for leftovers, inside user-mode
# Linux guests booted with pure cgroup v2 (Scripts/guest.sh), two at a time:
#
#   6.1          Debian 12's kernel, our init (cgroupfs placement), iptables falling back to legacy
#   5.10         Debian 11's kernel: overlay by option string, no cgroup.kill, no CLOSE_RANGE_CLOEXEC
#   6.1-systemd  Debian 12's kernel with systemd as PID 1: containers in delegated scopes
#
# (this host's own kernel and cgroups are covered by `swift test` in Scripts/test.sh). Logs go to
# .build/kernel-matrix/<config>.log. SWCOMPOSE_MATRIX="6.1 5.10" picks configurations.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export PATH="/opt/swift/usr/bin:$PATH"
swiftlib=$(cd "$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux" && pwd)
[ -x .build/debug/swcomposePackageTests.xctest ] && [ -x .build/debug/swcompose ] || swift build --build-tests
configs=(${SWCOMPOSE_MATRIX:-6.1 5.10 6.1-systemd})
root_suites="CDITests|BuildKeysTests|RuntimeKeysTests|MacvlanTests|LoggingDriverTests|BuildTests|OverlayTests|LauncherTests|CgroupTests|SupervisorTests|NetlinkKernelTests|LayerUnpackerTests|KernelPathDecisionTests|DeviceFilterProgramTests|KernelMatrixTests|LifecycleTests|NetworkingTests|CopyTests|WatchTests|EventsTests|LogsFollowTests|AttachTests"
systemd_suites="BuildTests|SupervisorTests|KernelMatrixTests|LifecycleTests"
logs=.build/kernel-matrix
mkdir -p "$logs"
# The guests run a copy of the build, so that building on meanwhile does not change it under them.
bin=$logs/bin
rm -rf "$bin" && mkdir -p "$bin"
cp -p .build/debug/swcompose .build/debug/swcompose-runtime .build/debug/swcomposePackageTests.xctest "$bin/"

# The guests' roots and kernels, built (or checked) one after the other: they share the cache.
for c in "${configs[@]}"; do Scripts/guest.sh --kernel "${c%-systemd}" --build >/dev/null; done

run() { # CONFIG
  local c=$1 kernel=${1%-systemd} extra=() suites=$root_suites start=$SECONDS
  if [ "$c" != "$kernel" ]; then extra=(--systemd); suites=$systemd_suites; fi
  if Scripts/guest.sh --kernel "$kernel" ${extra[@]+"${extra[@]}"} --mem 3G --timeout 1500 --env TMPDIR=/var/tmp \
       --share-ro "$repo" --share-ro "$swiftlib" -- "$repo/Scripts/guest-matrix.sh" "$suites" "$repo/$bin" >"$logs/$c.log" 2>&1; then
    echo "kernel matrix: $c passed in $((SECONDS - start)) s ($(grep -ao 'Test run with [0-9]* tests' "$logs/$c.log" | tail -n1))"
  else
    echo "kernel matrix: $c FAILED in $((SECONDS - start)) s; from $logs/$c.log:"
    grep -aE '✘|MATRIX FAIL|guest:' "$logs/$c.log" | head -n 40
    return 1
  fi
}

status=0
pids=()
for c in "${configs[@]}"; do
  run "$c" & pids+=($!)
  # Two at a time: each guest is one busy CPU.
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || status=1; pids=("${pids[@]:1}"); fi
done
for p in ${pids[@]+"${pids[@]}"}; do wait "$p" || status=1; done
exit $status
