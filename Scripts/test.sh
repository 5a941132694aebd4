#!/usr/bin/env bash
# Builds swcompose, runs every test suite on this host with the runtime conformance fixtures beside them
# (Tests/RuntimeConformance: what containers see, against docker compose's recorded answers), the
# compose-config conformance checks, then
# the kernel matrix (Scripts/kernel-matrix.sh: the root suites and the quickstart inside user-mode
# Linux guests with Debian 12's and Debian 11's kernels and pure cgroup v2; the first run builds the
# guests, a few minutes). SWCOMPOSE_MATRIX=none skips the matrix; SWCOMPOSE_MATRIX="6.1" picks.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
Scripts/setup.sh
swift build --build-tests
# The runtime conformance fixtures (what containers see, against docker compose's recorded answers)
# beside the unit and end-to-end suites: their networks use fixed subnets no test allocates.
rtc_log=.build/runtime-conformance.log
(
  Tests/RuntimeConformance/make-image.sh .build/debug/swcompose .build/rtc-busybox.tar &&
  RTC_IMAGE_TAR=.build/rtc-busybox.tar RTC_RESULTS=.build/runtime-conformance Tests/RuntimeConformance/check.sh .build/debug/swcompose
  status=$?
  # The `limits` fixture's relative cgroup_parent stays after down, as under docker: the test removes it.
  find /sys/fs/cgroup -depth -type d -name rtc-limits-parent -exec rmdir {} + 2>/dev/null
  exit $status
) >"$rtc_log" 2>&1 &
rtc_pid=$!
swift test
if wait "$rtc_pid"; then
  tail -n 1 "$rtc_log"
else
  echo "runtime conformance FAILED:" >&2
  cat "$rtc_log" >&2
  exit 1
fi
conformance=../shared/conformance
if [ -d "$conformance" ]; then
  python3 "$conformance/check.py" "$conformance/compose-config" .build/debug/swcompose
  python3 "$conformance/check.py" "$conformance/compose-config-realworld" .build/debug/swcompose
else
  echo "note: $conformance is not present next to this checkout; conformance checks skipped" >&2
fi
if [ "${SWCOMPOSE_MATRIX:-}" != none ]; then
  Scripts/kernel-matrix.sh
fi
