#!/usr/bin/env bash
# The Debian package (debian/, scripts/build-deb): built from the committed tree when
# build/deb has none, installed with dpkg -i, then `kvz --version`, `man -w kvz`, the
# completion and kvz-unpack where kvz looks for it; then purged, leaving nothing.
set -uo pipefail
src=${KVZ_SOURCE_DIR:?}
deb_dir=${KVZ_DEB_DIR:?}
fails=0
. "$(dirname "$0")/shlib.sh"
if dpkg-query -W -f='${Status}' kvz 2>/dev/null | grep -q "install ok installed"; then
  echo "a kvz package is installed already: not touching it"; exit 1
fi
trap 'dpkg --purge kvz >/dev/null 2>&1' EXIT
deb=$(ls "$deb_dir"/kvz_*_amd64.deb 2>/dev/null | head -1)
if [[ -z $deb ]]; then
  run 0 "$src/scripts/build-deb" "$deb_dir" && ok "scripts/build-deb built the package"
  deb=$(ls "$deb_dir"/kvz_*_amd64.deb 2>/dev/null | head -1)
fi
[[ -n $deb ]] || { echo "FAIL - no kvz_VERSION_amd64.deb in $deb_dir"; exit 1; }
version=$(dpkg-deb -f "$deb" Version)
check "the package is named kvz_VERSION_amd64.deb" test "${deb##*/}" = "kvz_${version}_amd64.deb"
check "it depends on the libvirt clients, qemu-utils and e2fsprogs" bash -c \
  "dpkg-deb -f '$deb' Depends | grep -q libvirt-clients && dpkg-deb -f '$deb' Depends | grep -q qemu-utils && dpkg-deb -f '$deb' Depends | grep -q e2fsprogs"
check "it recommends the daemons" bash -c "dpkg-deb -f '$deb' Recommends | grep -q libvirt-daemon-system"
run 0 dpkg -i "$deb" && ok "dpkg -i"
run 0 /usr/bin/kvz --version && has "kvz ${version%%-*}" && has "libvirt " && ok "kvz --version"
check "man -w kvz" test "$(man -w kvz)" = /usr/share/man/man1/kvz.1.gz
check "man -w kvz.yaml" test "$(man -w kvz.yaml)" = /usr/share/man/man5/kvz.yaml.5.gz
check "the bash completion" test -f /usr/share/bash-completion/completions/kvz
check "the zsh completion" test -f /usr/share/zsh/vendor-completions/_kvz
check "the docs" test -f /usr/share/doc/kvz/manifest.md.gz
check "kvz-unpack where the installed kvz looks" test -x /usr/libexec/kvz/kvz-unpack
# the installed kvz works on its own: it validates and unpacks through its kvz-unpack
run 0 /usr/bin/kvz validate -f "$src/examples/quickstart" && ok "the installed kvz validates"
run 0 dpkg --purge kvz && ok "dpkg --purge"
check "nothing left" test ! -e /usr/bin/kvz -a ! -e /usr/libexec/kvz -a ! -e /usr/share/man/man1/kvz.1.gz
finish
