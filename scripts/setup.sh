#!/usr/bin/env bash
# Brings a fresh machine to the point where MetaFlow builds and its tests run:
# Debian packages (when root and missing), npm dependencies, then the build.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# tshark: the tests compare packet verdicts with it; tcpdump, nginx, curl, redis: recording the demo capture;
# chromium: the datasource's browser acceptance test (npm run test:browser); mariadb, mosquitto, dnsmasq, dig:
# the live MySQL/MQTT/DNS capture test (the -core/-base packages: binaries only, no system service);
# prometheus (and its promtool): the /metrics acceptance test, which runs its own instance on a free
# loopback port (Debian's package also enables a system service on :9090; the test does not use it).
APT_PACKAGES=(tshark tcpdump curl nginx-light redis-server redis-tools openssl chromium
  mariadb-server-core mariadb-client-core mosquitto mosquitto-clients dnsmasq-base bind9-dnsutils prometheus)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages (${missing[*]}); install them as root for the full test suite" >&2
  fi
fi

# Live capture: the eBPF programs and their loader (clang, libbpf, bpftool, libpcap), built when
# root; without them the live tests skip with the reason and the rest of the suite runs.
if [ "$(id -u)" = 0 ]; then
  bash bpf/install-deps.sh && make -s -C bpf || echo "setup: the eBPF loader could not be built; live capture tests will be skipped" >&2
fi

# npm dependencies: install when absent or when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
