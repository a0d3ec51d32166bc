#!/usr/bin/env bash
# Install Debian's QGIS (3.22 LTR on bookworm) so that the QGIS tests of tests/qgis run for real.
# Headless use needs no display: the tests set QT_QPA_PLATFORM=offscreen and call qgis_process.bin
# (Debian's qgis_process wrapper passes QGIS_OPTS=--noversioncheck, which QGIS 3.22 rejects).
# Usage: bash scripts/install_qgis.sh      (as root, or with sudo available)
# Prints the time taken and the disk space the packages use.
set -euo pipefail
if command -v qgis_process.bin >/dev/null 2>&1 || [ -x /usr/lib/qgis/qgis_process.bin ]; then
  echo "QGIS already installed: $(dpkg-query -W -f='${Version}' qgis 2>/dev/null || echo unknown)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
start=$(date +%s)
before=$(df --output=used -k / | tail -1)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends qgis python3-qgis qgis-providers
end=$(date +%s)
after=$(df --output=used -k / | tail -1)
echo "QGIS $(dpkg-query -W -f='${Version}' qgis) installed in $((end - start)) s, $(( (after - before) / 1024 )) MB of disk"
