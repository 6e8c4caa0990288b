#!/usr/bin/env bash
# kvz.lock from a git source's commit (real git, HTTP over loopback, the real libvirtd): a
# repository holds a manifest with a SUMS template and the kvz.lock pinning it; after the SUMS
# file moved upstream, plan, apply, status and templates from the git source still use the
# commit's locked digest; --lockfile readonly passes on that commit and fails on one without a
# lock; kvz lock on a git source refuses. Domains kvzt12l-<pid>-*, own state dir, removed at exit.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src_dir=${KVZ_SOURCE_DIR:?}
uri=lxc:///system
p=kvzt12l-$$
work=$(mktemp -d /tmp/$p-XXXXXX)
chmod 755 "$work"
state=$work/state
export KVZ_STATE_DIR=$state NO_COLOR=1 GIT_CONFIG_NOSYSTEM=1
fails=0
srv=
. "$(dirname "$0")/shlib.sh"
cleanup() {
  [[ -n $srv ]] && kill "$srv" 2>/dev/null
  remove_domains $uri "$p-"
  rm -rf "$work"
}
trap cleanup EXIT

# two rootfs versions: the second has /etc/kvz-version
"$src_dir/tests/integration/busybox-template" "$work/tpl" >/dev/null || { echo "cannot build the template"; exit 1; }
mkdir -p "$work/www" "$work/v2/etc" && echo two >"$work/v2/etc/kvz-version"
gzip -dc "$work/tpl/busybox-rootfs.tar.gz" >"$work/v2.tar"
tar --numeric-owner -C "$work/v2" -rf "$work/v2.tar" ./etc/kvz-version
gzip -c "$work/v2.tar" >"$work/v2.tar.gz"
publish() { # publish FILE: FILE as bb.tar.gz, with its SUMS
  cp "$1" "$work/www/bb.tar.gz"
  (cd "$work/www" && sha256sum bb.tar.gz >SHA256SUMS)
}
publish "$work/tpl/busybox-rootfs.tar.gz"
sha1=$(cut -d' ' -f1 "$work/www/SHA256SUMS")
python3 "$src_dir/tests/integration/httpd_faults.py" --root "$work/www" --port-file "$work/port" &
srv=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.05; done
port=$(cat "$work/port")

g() { git -C "$work/clone" -c user.name=kvz-test -c user.email=test@example.org "$@"; }
git init -q --bare -b main "$work/origin.git"
git clone -q "$work/origin.git" "$work/clone" 2>/dev/null
mkdir -p "$work/clone/web"
cat >"$work/clone/web/kvz.yaml" <<YAML
kvz: 1
stack: $p
connection:
  containers: $uri
templates:
  bb:
    url: http://127.0.0.1:$port/bb.tar.gz
    checksums: http://127.0.0.1:$port/SHA256SUMS
containers:
  $p-a:
    template: bb
    memory: 32MiB
    network: none
YAML
g add web && g commit -q -m "no lock yet" && g push -q origin HEAD:main 2>/dev/null
c0=$(g rev-parse HEAD)
# kvz lock runs in the clone; the lock is committed beside the manifest
run 0 "$kvz" lock -f "$work/clone/web/kvz.yaml" && has "bb: locked sha256:"
g add web/kvz.lock && g commit -q -m "lock" && g push -q origin HEAD:main 2>/dev/null
c1=$(g rev-parse HEAD)
src="git+file://$work/origin.git//web"

# the locked template in the cache, then upstream moves on (a new image, a new SUMS)
run 0 "$kvz" templates pull -f "$src" --lockfile readonly && ok "templates pull from the git source, readonly"
publish "$work/v2.tar.gz"
sha2=$(cut -d' ' -f1 "$work/www/SHA256SUMS")
check "upstream changed" test "$sha2" != "$sha1"

run 0 "$kvz" templates list -f "$src" --lockfile readonly && has "${sha1:0:12}" &&
  ok "templates list: the commit's locked digest"
run 2 "$kvz" plan --detailed-exitcode --lockfile readonly -f "$src" -o "$work/plan.json" &&
  has "commit $c1 of main" && ok "plan --lockfile readonly passes with the committed lock"
check "the saved plan records the locked digest, not the new SUMS" python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["templates"]["templates"]["bb"]
assert t["digest"] == "sha256:" + sys.argv[2], t' "$work/plan.json" "$sha1"
run 0 "$kvz" apply "$work/plan.json" && has "Apply complete" && ok "the saved plan applied"
check "the container was made from the locked image" test ! -e "$state/containers/$p/$p-a/rootfs/etc/kvz-version"
run 0 "$kvz" status -f "$src" && has "${sha1:0:12}" && lacks "newer:" && ok "status from the git source: nothing newer locked"
run 0 "$kvz" plan --detailed-exitcode -f "$src" && ok "plan from the git source: nothing to do while locked"

# the lock upgraded in the clone and committed: status from the git source sees the newer one
run 0 "$kvz" lock --upgrade -f "$work/clone/web/kvz.yaml" && has "-> sha256:${sha2:0:12}"
g add web/kvz.lock && g commit -q -m "lock upgraded" && g push -q origin HEAD:main 2>/dev/null
run 0 "$kvz" status -f "$src" && has "newer: sha256:${sha2:0:12}" && ok "status: the commit's lock holds a newer image"
run 0 "$kvz" status -f "$src?ref=$c1" && lacks "newer:" && ok "status at the first locked commit: nothing newer"

# a commit without kvz.lock: readonly fails, saying where to make it
run 1 "$kvz" plan --lockfile readonly -f "$src?ref=$c0" &&
  has "commit $c0 of 'file://$work/origin.git' has no kvz.lock beside its manifests" &&
  has "in a clone of the repository and commit it" && ok "readonly fails on a commit without the lock"
# and without readonly nothing is pinned: the SUMS file is asked at pull
run 0 "$kvz" templates list -f "$src?ref=$c0" && has "(checksums file)" && ok "without a lock nothing is pinned"

# a manifest file as the PATH: the lock beside it
run 0 "$kvz" templates list --lockfile readonly -f "git+file://$work/origin.git//web/kvz.yaml?ref=$c1" &&
  has "${sha1:0:12}" && ok "PATH naming the file: its folder's kvz.lock"

# a broken lock in a commit: the error names the commit's file
echo '{"kvz_lock": 1,' >"$work/clone/web/kvz.lock"
g add web/kvz.lock && g commit -q -m "broken lock" && g push -q origin HEAD:main 2>/dev/null
c3=$(g rev-parse HEAD)
run 1 "$kvz" plan -f "$src" && has "lockfile 'file://$work/origin.git@$c3:web/kvz.lock': line" &&
  ok "a broken lock in the commit names it"

run 1 "$kvz" lock -f "$src" && has "run 'kvz lock' in a clone of the repository and commit kvz.lock" &&
  ok "kvz lock refuses a git source"

run 0 "$kvz" destroy --auto-approve -f "$src?ref=$c1" && ok "destroyed"
finish
