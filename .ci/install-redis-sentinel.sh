#!/usr/bin/env bash
# Debian's redis-sentinel for the Sentinel failover test (tests/reliability/test_sentinel_failover.py), which
# starts its own redis-server and redis-sentinel processes; without it the test runs `redis-server --sentinel`.
# Safe to run again.
set -euo pipefail

if command -v redis-sentinel >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-redis-sentinel: run as root (apt-get install -y redis-sentinel)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends redis-sentinel
# The package starts a sentinel of its own on 26379; the test starts its own and needs none running.
if command -v systemctl >/dev/null && systemctl is-active -q redis-sentinel 2>/dev/null; then
  systemctl stop redis-sentinel || true
fi
command -v redis-sentinel >/dev/null
