#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser), which Playwright drives from
# /usr/bin/chromium; Playwright's own browser download is not used. Safe to run again.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-chromium: run as root (apt-get install -y chromium)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium
test -x /usr/bin/chromium
