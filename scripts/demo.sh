#!/usr/bin/env bash
# The main job on the embedded default: build, replay the project's own demo capture
# (real nginx and redis traffic recorded on loopback) into an embedded ClickHouse (chDB)
# and print the summary read back from it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run build --silent >/dev/null
store=.metaflow/demo
rm -rf "$store"
echo "Replaying fixtures/captures/demo-loopback.pcap into $store (chDB)"
npx metaflow replay fixtures/captures/demo-loopback.pcap --store "$store" "$@"
echo
echo "Per server port, from the same store: npx metaflow summary --store $store --server-port 18080"
