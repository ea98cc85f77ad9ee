#!/usr/bin/env bash
# fetch_exim.sh DIR - unpacks Debian's Exim (exim4-daemon-light) into DIR/root for
# test_clients.py, without installing it: exim4 conflicts with postfix, which the same
# tests need. Its libraries come from TEST_PACKAGES in dev.sh (libidn12, libgnutls-dane0).
# Exim looks up its compiled-in user Debian-exim before anything else (even -bV), so
# the system user is made here as exim4-base's postinst would.
set -euo pipefail
dir=${1:?usage: fetch_exim.sh DIR}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ! -x "$dir/root/usr/sbin/exim4" ]; then
  mkdir -p "$dir/deb"
  rm -rf "$dir/deb/"*.deb "$dir/root.tmp"
  # apt-get download needs the package lists; fetch them once if it cannot find it.
  (cd "$dir/deb" && apt-get download -q exim4-daemon-light) ||
    { $SUDO apt-get update -q && (cd "$dir/deb" && apt-get download -q exim4-daemon-light); }
  dpkg-deb -x "$dir"/deb/exim4-daemon-light_*.deb "$dir/root.tmp"
  rm -rf "$dir/root"
  mv "$dir/root.tmp" "$dir/root"
fi
if ! getent passwd Debian-exim >/dev/null; then
  $SUDO useradd --system --user-group --no-create-home --home-dir /var/spool/exim4 \
    --shell /usr/sbin/nologin Debian-exim
fi
"$dir/root/usr/sbin/exim4" -C /dev/null -bV >/dev/null
