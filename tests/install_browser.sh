#!/usr/bin/env bash
# Debian's chromium for the browser test (tests/app/test_browser.py), installed once.
set -e
command -v chromium >/dev/null 2>&1 && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
