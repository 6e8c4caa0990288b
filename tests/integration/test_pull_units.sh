#!/usr/bin/env bash
# Pull mode's systemd units (dist/systemd, issue 12): systemd-analyze verify where it exists,
# then the service's ExecStart run as systemd would (its environment file, %i) against a
# repository made here and the real libvirtd: applies, then skips an unchanged commit, exits 3
# beyond KVZ_MAX_DISRUPTION and 4 for an unsigned commit under KVZ_REQUIRE_SIGNED.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src_dir=${KVZ_SOURCE_DIR:?}
uri=lxc:///system
p=kvzt12p-$$
work=$(mktemp -d /tmp/$p-XXXXXX)
export KVZ_STATE_DIR=$work/state GIT_CONFIG_NOSYSTEM=1
fails=0
. "$(dirname "$0")/shlib.sh"
cleanup() {
  remove_domains $uri "$p-"
  rm -rf "$work"
}
trap cleanup EXIT
units=$src_dir/dist/systemd

# --- the units as systemd reads them (kvz's path made absolute: systemd-analyze checks it)
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$work/units"
  sed "s|^ExecStart=kvz |ExecStart=$(realpath "$kvz") |" "$units/kvz-pull@.service" >"$work/units/kvz-pull@web.service"
  cp "$units/kvz-pull@.timer" "$work/units/kvz-pull@web.timer"
  run 0 systemd-analyze verify "$work/units/kvz-pull@web.service" "$work/units/kvz-pull@web.timer" &&
    lacks "kvz-pull" && ok "systemd-analyze verify: no complaint"
else
  echo "ok - skip systemd-analyze: not installed"
fi
grep -q '^EnvironmentFile=/etc/kvz/pull/%i.env$' "$units/kvz-pull@.service" && ok "the service reads /etc/kvz/pull/%i.env" || bad "no EnvironmentFile"
grep -q '^Unit=\|^OnUnitInactiveSec=' "$units/kvz-pull@.timer" && ok "the timer repeats" || bad "timer"

"$src_dir/tests/integration/busybox-template" "$work/tpl" || { echo "cannot build the template"; exit 1; }
sha=$(cut -d' ' -f1 "$work/tpl/SHA256SUMS")
g() { git -C "$work/clone" -c user.name=kvz-test -c user.email=test@example.org "$@"; }
commit() { # commit MEMORY [HOSTNAME]
  {
    printf 'kvz: 1\nstack: %s\nconnection:\n  containers: %s\n' "$p" "$uri"
    printf 'templates:\n  bb:\n    url: file://%s/tpl/busybox-rootfs.tar.gz\n    sha256: %s\n' "$work" "$sha"
    printf 'containers:\n  %s-a:\n    template: bb\n    memory: %s\n    network: none\n' "$p" "$1"
    [[ -n ${2:-} ]] && printf '    hostname: %s\n' "$2"
  } >"$work/clone/hosts/web/kvz.yaml"
  g add hosts && g commit -q -m "memory $1" && g push -q origin HEAD:main 2>/dev/null
}
git init -q --bare -b main "$work/origin.git"
git clone -q "$work/origin.git" "$work/clone" 2>/dev/null
mkdir -p "$work/clone/hosts/web"
commit 64MiB

# the environment file, as an admin writes it from example.env
sed -e "s|^KVZ_REPO=.*|KVZ_REPO=file://$work/origin.git|" -e '/^KVZ_REQUIRE_SIGNED=/d' \
  "$units/example.env" >"$work/web.env"
# ExecStart as systemd runs it: defaults from Environment=, then the file, %i, ${VAR} expanded
execstart() { # execstart ENVFILE: runs the service's command line, output in $out
  local line defaults
  line=$(sed -n 's/^ExecStart=//p' "$units/kvz-pull@.service")
  defaults=$(sed -n 's/^Environment=//p' "$units/kvz-pull@.service")
  line=${line//%i/web}
  out=$(env -i PATH="$(dirname "$(realpath "$kvz")"):/usr/bin:/bin" KVZ_STATE_DIR="$KVZ_STATE_DIR" HOME="$work" \
    bash -c "set -a; $defaults; . '$1'; set +a; exec $line" 2>&1 </dev/null)
}
execstart "$work/web.env"; st=$?
check "the first run applies (exit $st)" test $st = 0
has "commit $(g rev-parse HEAD) of main" && has "Apply complete"
check "the guest exists" test -n "$(virsh -q -c $uri domid "$p-a" 2>/dev/null)"
execstart "$work/web.env"; st=$?
check "an unchanged commit: exit 0 ($st)" test $st = 0
has "applied before and nothing drifted: skipping"
commit 64MiB renamed
execstart "$work/web.env"; st=$?
check "a restart beyond KVZ_MAX_DISRUPTION=live: exit 3 ($st)" test $st = 3
has "beyond --max-disruption live"
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
echo "ops@example.org $(cut -d' ' -f1,2 "$work/key.pub")" >"$work/allowed_signers"
echo "KVZ_REQUIRE_SIGNED=$work/allowed_signers" >>"$work/web.env"
execstart "$work/web.env"; st=$?
check "an unsigned commit under KVZ_REQUIRE_SIGNED: exit 4 ($st)" test $st = 4
has "not signed"
finish
