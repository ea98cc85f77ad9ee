#!/usr/bin/env bash
# check.sh - builds the Debian package and tries it in a clean Debian root (issue 26).
#
#   tests/package/check.sh [--keep] [--no-build]
#
# --keep leaves the root in $HATO_PKG_WORK/root; --no-build tests the package the previous
# run built there.
# 1. dpkg-buildpackage -b -us -uc on a copy of the tree (git's files plus uncommitted
#    changes) in $HATO_PKG_WORK (default /var/tmp/hato-package): the same path every run,
#    so ccache (CCACHE_BASEDIR, no hashed build dir) hits on the second build.
# 2. lintian: fails on any error, prints the warnings.
# 3. A clean bookworm root from the machine's apt mirror (debootstrap --variant=minbase,
#    its downloads cached in /var/cache/hato-test), entered with chroot. There: install the
#    package with apt (dependencies from the mirror: shlibs:Depends must be right), check
#    the user, directories, conffile, man pages, completions and enabled unit,
#    `systemd-analyze verify` the installed units, `hato config check` the packaged
#    configuration as the hato user; reinstall over itself keeping data and a changed
#    conffile; remove (data, conffile and user stay); purge (all gone).
# Needs root (debootstrap, chroot). Exits 1 at the first failed check, saying which.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$(pwd)
WORK=${HATO_PKG_WORK:-/var/tmp/hato-package}
CACHE=${HATO_PKG_CACHE:-/var/cache/hato-test}
KEEP= BUILD=yes
for a in "$@"; do
  case $a in
    --keep) KEEP=yes ;;
    --no-build) BUILD= ;;
    *) echo "usage: $0 [--keep] [--no-build]" >&2; exit 2 ;;
  esac
done
MIRROR=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources \
  2>/dev/null | head -1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=$(. /etc/os-release && echo "$VERSION_CODENAME")

step() { echo "== $(date -u +%T) $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
check() {  # check "what" command...: fails the run with "what" unless the command succeeds
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else fail "$what"; fi
}

[ "$(id -u)" -eq 0 ] || fail "run as root (debootstrap and chroot need it)"

# -- 1. build ---------------------------------------------------------------------------
if [ -n "$BUILD" ]; then
  step "build: dpkg-buildpackage in $WORK/hato"
  rm -rf "$WORK/hato" "$WORK"/hato_* "$WORK"/hato-dbgsym_*
  mkdir -p "$WORK/hato"
  git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$WORK/hato"
  export CCACHE_BASEDIR="$WORK/hato" CCACHE_NOHASHDIR=true
  (cd "$WORK/hato" && dpkg-buildpackage -b -us -uc) > "$WORK/build.log" 2>&1 ||
    { tail -40 "$WORK/build.log"; fail "dpkg-buildpackage (log: $WORK/build.log)"; }
fi
DEB=$(ls "$WORK"/hato_*.deb 2>/dev/null | head -1 || true)
[ -n "$DEB" ] || fail "no package in $WORK"
echo "built $(basename "$DEB")"
dpkg-deb -I "$DEB" | sed -n 's/^ Depends:/Depends:/p'

# -- 2. lintian -------------------------------------------------------------------------
step "lintian"
# The .changes names the package and its dbgsym; without one (a .deb put there by hand),
# the .deb alone.
CHANGES=$(ls "$WORK"/hato_*.changes 2>/dev/null | head -1 || true)
lintian --fail-on error --display-level ">=warning" "${CHANGES:-$DEB}" ||
  fail "lintian reports errors"

# -- 3. a clean root --------------------------------------------------------------------
ROOT="$WORK/root"
cleanup() {
  for m in proc; do mountpoint -q "$ROOT/$m" && umount "$ROOT/$m"; done
  [ -n "$KEEP" ] || rm -rf "$ROOT"
}
trap cleanup EXIT
rm -rf "$ROOT"
step "debootstrap $SUITE from $MIRROR"
mkdir -p "$CACHE/debootstrap"
debootstrap --variant=minbase --cache-dir="$CACHE/debootstrap" "$SUITE" "$ROOT" "$MIRROR" \
  > "$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc"
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
in_root apt-get update -q > /dev/null
# systemd only for systemd-analyze (nothing runs it as init here), man-db for its check of
# the units' Documentation=man:hato(8).
in_root apt-get install -y -q --no-install-recommends systemd man-db > "$WORK/root-apt.log" 2>&1 ||
  { tail -20 "$WORK/root-apt.log"; fail "installing systemd in the root"; }
cp "$DEB" "$ROOT/tmp/hato.deb"

step "install"
in_root apt-get install -y -q --no-install-recommends /tmp/hato.deb > "$WORK/install.log" 2>&1 ||
  { tail -30 "$WORK/install.log"; fail "apt-get install hato.deb (dependencies from shlibs?)"; }
user_line() { in_root getent passwd hato > /dev/null; }
check "hato user exists" user_line
check "hato is a system user with home /var/lib/hato and no login" \
  bash -c "[[ \"\$(chroot '$ROOT' getent passwd hato)\" =~ ^hato:x:([0-9]+):[0-9]+:[^:]*:/var/lib/hato:/usr/sbin/nologin$ ]] && (( BASH_REMATCH[1] < 1000 ))"
check "hato group exists" bash -c "chroot '$ROOT' getent group hato > /dev/null"
check "/var/lib/hato is hato:hato 0750" \
  bash -c "[ \"\$(chroot '$ROOT' stat -c '%U:%G %a' /var/lib/hato)\" = 'hato:hato 750' ]"
check "/etc/hato is root:hato 2750 (setgid)" \
  bash -c "[ \"\$(chroot '$ROOT' stat -c '%U:%G %a' /etc/hato)\" = 'root:hato 2750' ]"
check "/usr/sbin/hato runs" bash -c "chroot '$ROOT' /usr/sbin/hato --help > /dev/null"
check "/etc/hato/hato.yaml is a conffile" \
  bash -c "chroot '$ROOT' dpkg-query -W -f='\${Conffiles}' hato | grep -q '^ /etc/hato/hato.yaml '"
check "packaged configuration passes config check as hato" \
  in_root setpriv --reuid=hato --regid=hato --clear-groups /usr/sbin/hato config check -c /etc/hato/hato.yaml
add_user() { echo "alice-secret-1" | in_root /usr/sbin/hato user add alice --password-stdin > /dev/null; }
check "hato user add as root" add_user
check "the users file root wrote is readable by the daemon's user (config check as hato)" \
  in_root setpriv --reuid=hato --regid=hato --clear-groups /usr/sbin/hato config check -c /etc/hato/hato.yaml
check "it listens on loopback only" \
  bash -c "! grep -E '^[^#]*address: *\"?(0\.0\.0\.0|\[::\])' '$ROOT/etc/hato/hato.yaml'"
for f in /usr/share/man/man8/hato.8.gz /usr/share/man/man5/hato.yaml.5.gz \
  /usr/share/bash-completion/completions/hato /usr/share/zsh/vendor-completions/_hato \
  /lib/systemd/system/hato.service /lib/systemd/system/hato-backup.service \
  /lib/systemd/system/hato-backup.timer; do
  check "installed: $f" test -f "$ROOT$f"
done
check "hato.service enabled at boot" \
  test -L "$ROOT/etc/systemd/system/multi-user.target.wants/hato.service"
check "hato-backup.timer not enabled" \
  test ! -e "$ROOT/etc/systemd/system/timers.target.wants/hato-backup.timer"
verify() {
  local out
  out=$(in_root systemd-analyze verify /lib/systemd/system/hato.service \
    /lib/systemd/system/hato-backup.service /lib/systemd/system/hato-backup.timer 2>&1) || {
    echo "$out"
    return 1
  }
  # Anything said about our units is a finding; other units' noise is not ours.
  if grep -i "hato" <<< "$out"; then return 1; fi
}
check "systemd-analyze verify on the installed units" verify

step "upgrade over itself"
echo "kept" > "$ROOT/var/lib/hato/marker"
echo "# changed by the administrator" >> "$ROOT/etc/hato/hato.yaml"
in_root dpkg -i --force-confold /tmp/hato.deb > "$WORK/upgrade.log" 2>&1 ||
  { cat "$WORK/upgrade.log"; fail "dpkg -i over the installed package"; }
check "data kept" grep -q kept "$ROOT/var/lib/hato/marker"
check "changed conffile kept" grep -q "changed by the administrator" "$ROOT/etc/hato/hato.yaml"
check "user kept" user_line
check "still configured" bash -c "chroot '$ROOT' dpkg-query -W -f='\${Status}' hato | grep -q 'install ok installed'"

step "remove"
in_root apt-get remove -y -q hato > "$WORK/remove.log" 2>&1 ||
  { cat "$WORK/remove.log"; fail "apt-get remove hato"; }
check "binary gone" test ! -e "$ROOT/usr/sbin/hato"
check "data kept after remove" grep -q kept "$ROOT/var/lib/hato/marker"
check "conffile kept after remove" test -f "$ROOT/etc/hato/hato.yaml"
check "user kept after remove" user_line

step "purge"
in_root dpkg --purge hato > "$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "dpkg --purge hato"; }
check "data gone after purge" test ! -e "$ROOT/var/lib/hato"
check "conffile gone after purge" test ! -e "$ROOT/etc/hato/hato.yaml"
check "user gone after purge" bash -c "! chroot '$ROOT' getent passwd hato"
check "group gone after purge" bash -c "! chroot '$ROOT' getent group hato"
check "no stat override left" bash -c "! chroot '$ROOT' dpkg-statoverride --list /etc/hato"
step "package checks passed"
