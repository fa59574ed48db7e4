#!/usr/bin/env bash
# Install whatever the lab needs on a Debian/Ubuntu machine (as root), then optionally run:
#   ./setup.sh            install only (the lab and its notebooks)
#   ./setup.sh replay     install, then replay the incident scenario
#   ./setup.sh test       install with the test tools, then run the checks and the whole test suite
#   ./setup.sh lab        only the Debian packages a lab machine needs (used by `--on HOST`, which
#                         keeps its own virtualenvs)
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (sudo ./setup.sh ...): the lab creates namespaces and starts dockerd" >&2
  exit 3
fi
command="${1:-}"
case "$command" in
  ""|replay) extras="notebooks" ;;
  test) extras="test,notebooks" ;;
  lab) extras="" ;;
  *) echo "setup.sh: unknown command '$command' (use: replay, test, lab, or nothing)" >&2; exit 2 ;;
esac

# Debian packages of missing programs: lab/packages.tsv lists program, package and what needs it.
missing=()
while IFS=$'\t' read -r program package purpose; do
  case "$program" in ""|\#*) continue ;; esac
  [ "$purpose" = tests ] && [ "$command" != test ] && continue
  case "$program" in
    /*) [ -e "$program" ] || missing+=("$package") ;;  # a path: a file the package installs (a font)
    *) command -v "$program" >/dev/null 2>&1 || missing+=("$package") ;;
  esac
done < lab/packages.tsv
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
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

# The virtualenv with the project installed (editable: this folder's code runs), re-synced only
# when pyproject.toml or the extras changed. Not for `lab`: `--on` keeps one virtualenv per
# dependency set itself, made by the SSH user (lab/remote/install.py).
if [ "$command" = lab ]; then
  echo "setup.sh: this machine has the programs a lab needs"
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup.sh: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.lab-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1) [${extras}]"
if ! grep -qxF "$want" "$stamp" 2>/dev/null; then
  echo "setup.sh: installing the lab and its Python packages${extras:+ (with: $extras)}"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
  echo "$want" >> "$stamp"
fi

case "$command" in
  "") echo "setup.sh: ready. Replay the incident: .venv/bin/lab run scenarios/tdengine-docker-cross-subnet.yaml" ;;
  replay) shift; exec .venv/bin/lab run scenarios/tdengine-docker-cross-subnet.yaml "$@" ;;
  test)
    shift
    echo "setup.sh: ruff (lint, format) and mypy"
    .venv/bin/ruff check lab tests bench
    .venv/bin/ruff format --check lab tests bench
    .venv/bin/mypy
    exec .venv/bin/python -m pytest "$@" ;;
esac
