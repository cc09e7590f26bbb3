#!/usr/bin/env bash
# Installs the Debian packages that `make -C bpf` needs; with --test also the
# servers and clients bpf/test/smoke.sh drives. Idempotent: installs only what
# is missing, and runs apt-get only then.
set -euo pipefail

pkgs=(clang llvm libbpf-dev bpftool libpcap-dev libelf-dev zlib1g-dev make gcc linux-libc-dev)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(nginx-light curl openssl redis-server redis-tools python3)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "install-deps: no apt-get; install by hand: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# nginx and redis start themselves on install under systemd; the smoke test
# runs its own instances on other ports, so the packaged ones may stay.
apt-get install -y -qq --no-install-recommends "${missing[@]}"
