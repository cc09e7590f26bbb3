#!/usr/bin/env bash
# Runs every test: type checks, lint, build, plugin unit tests and the agent's tests
# (unit tests, the tshark corpus comparison, fuzzing). Sets the machine up first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test
