#!/usr/bin/env bash
# Debian's packages for `make cluster` (bench/cluster.py): HAProxy in front of the web nodes, redis-server and
# redis-sentinel for Redis under Sentinel, and PostgreSQL's server binaries for the primary and its replica
# (/usr/lib/postgresql/*/bin: initdb, pg_ctl, pg_basebackup). Installs only what is missing; safe to run again.
set -euo pipefail

missing=()
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
compgen -G "/usr/lib/postgresql/*/bin/pg_basebackup" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-cluster-packages: run as root (apt-get install -y ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
