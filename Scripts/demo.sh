#!/usr/bin/env bash
# Sets up a fresh machine, builds swcompose, and runs the demo stack of examples/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
Scripts/setup.sh
swift build -c release --product swcompose
bin=$PWD/.build/release/swcompose
cd examples/demo
"$bin" config
