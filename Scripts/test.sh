#!/usr/bin/env bash
# Builds swcompose, runs every test suite, then the compose-config conformance checks.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
swift build --build-tests
swift test
conformance=../shared/conformance
if [ -d "$conformance" ]; then
  python3 "$conformance/check.py" "$conformance/compose-config" .build/debug/swcompose
  python3 "$conformance/check.py" "$conformance/compose-config-realworld" .build/debug/swcompose
else
  echo "note: $conformance is not present next to this checkout; conformance checks skipped" >&2
fi
