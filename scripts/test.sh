#!/usr/bin/env bash
# Runs every test: type checks, lint, build, plugin unit tests, the agent's tests
# (unit tests, the tshark corpus comparison, fuzzing) and the browser test of the datasource.
# Sets the machine up first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test
