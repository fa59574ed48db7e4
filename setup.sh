#!/usr/bin/env bash
# Install whatever the lab needs on a Debian/Ubuntu machine (as root), then optionally run:
#   ./setup.sh            install only
#   ./setup.sh replay     install, then replay the incident scenario
#   ./setup.sh test       install, then run the whole test suite
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (sudo ./setup.sh ...): the lab creates namespaces and starts dockerd" >&2
  exit 3
fi

# Debian packages: program -> package. Only missing ones are installed.
declare -A NEED=(
  [mnexec]=mininet [ip]=iproute2 [iptables]=iptables [nft]=nftables [dockerd]=docker.io
  [tcpdump]=tcpdump [ping]=iputils-ping [nsenter]=util-linux [sysctl]=procps
  [/usr/bin/python3]=python3 [git]=git [dot]=graphviz
  [redis-server]=redis-server [redis-cli]=redis-tools
  [ssh]=openssh-client [/usr/sbin/sshd]=openssh-server  # `--on HOST` and its tests (tests/remote)
)
missing=()
for program in "${!NEED[@]}"; do
  command -v "$program" >/dev/null 2>&1 || missing+=("${NEED[$program]}")
done
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Install without starting services (docker.io, redis-server): the lab starts its own, inside
  # namespaces, and must not leave a system Docker or Redis running. policy-rc.d is Debian's way.
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    made_policy=yes
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

# The virtualenv, re-synced only when requirements.txt changed.
if [ ! -x .venv/bin/python ]; then
  echo "setup.sh: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup.sh: installing Python packages from requirements.txt"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi

case "${1:-}" in
  "") echo "setup.sh: ready. Replay the incident: .venv/bin/python -m lab run scenarios/tdengine-docker-cross-subnet.yaml" ;;
  replay) shift; exec .venv/bin/python -m lab run scenarios/tdengine-docker-cross-subnet.yaml "$@" ;;
  test) shift; exec .venv/bin/python -m pytest "$@" ;;
  *) echo "setup.sh: unknown command '$1' (use: replay, test, or nothing)" >&2; exit 2 ;;
esac
