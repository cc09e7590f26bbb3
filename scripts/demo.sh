#!/usr/bin/env bash
# The main job on the embedded default: build, replay the project's own demo capture
# (real nginx and redis traffic recorded on loopback) into an embedded ClickHouse (chDB),
# print the summary read back from it, then serve the service map of the same store: the
# preview page of the agent, which mounts the built Grafana plugins, in the foreground until
# Ctrl-C.
#
#   bash scripts/demo.sh [--no-preview] [replay options…]
#
# --no-preview (or METAFLOW_DEMO_PREVIEW=0), or a standard output that is not a terminal, ends
# right after the summary, so that scripts can use the command. METAFLOW_DEMO_PORT changes the
# preview's port (default 20416, the query API's).
set -euo pipefail
cd "$(dirname "$0")/.."

preview=${METAFLOW_DEMO_PREVIEW:-1}
[ -t 1 ] || preview=0
replay_args=()
for arg in "$@"; do
  if [ "$arg" = --no-preview ]; then preview=0; else replay_args+=("$arg"); fi
done

bash scripts/setup.sh
npm run build --silent >/dev/null
store=.metaflow/demo
rm -rf "$store"
echo "Replaying fixtures/captures/demo-loopback.pcap into $store (chDB)"
npx metaflow replay fixtures/captures/demo-loopback.pcap --store "$store" ${replay_args[@]+"${replay_args[@]}"}
echo
echo "Per server port, from the same store: npx metaflow summary --store $store --server-port 18080"
[ "$preview" = 1 ] || exit 0

echo
echo "Serving the service map of $store on loopback; open the URL below in a browser. Ctrl-C to stop."
exec npx metaflow serve --store "$store" --host 127.0.0.1 --port "${METAFLOW_DEMO_PORT:-20416}" --preview
