#!/usr/bin/env bash
# Catalogs (issue 13): a Proxmox aplinfo index and a simplestreams server in their real formats,
# signed with gpg in a temporary GNUPGHOME and served on 127.0.0.1; search, resolution to the
# newest entry for the host's architecture, kvz.lock (a newer entry published between runs),
# lock --upgrade, --lockfile readonly, a tampered index and bytes changed under a pinned digest.
set -euo pipefail
kvz=${KVZ_BINARY:?}
src=${KVZ_SOURCE_DIR:?}
work=$(mktemp -d /tmp/kvzt13-$$-cat.XXXXXX)
srv=
cleanup() {
  [[ -n $srv ]] && kill "$srv" 2>/dev/null
  GNUPGHOME=$work/gpg gpgconf --kill all 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
hits() { curl -fsS "http://127.0.0.1:$port/_ctl/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"].get(sys.argv[1], 0))' "$1"; }
pub=$src/tests/integration/catalog_publish.py
www=$work/www
T=()  # the system libvirtd: plan and lock --upgrade observe it (this stack has no guests there)

mkdir -p "$www/images/system" "$www/ss/images/debian/bookworm/amd64/default/20240101_05:24" \
  "$work/gpg" "$work/r/etc" "$work/m/keys"
chmod 700 "$work/gpg"
rootfs() { echo "$2" > "$work/r/etc/hostname"; tar --numeric-owner -C "$work/r" -cJf "$1" .; }
rootfs "$www/images/system/debian-12-standard_12.2-1_amd64.tar.xz" v1
rootfs "$www/images/system/debian-12-standard_13.0-1_arm64.tar.xz" arm
rootfs "$www/ss/images/debian/bookworm/amd64/default/20240101_05:24/rootfs.tar.xz" ss1
export GNUPGHOME=$work/gpg
gpg -q --batch --pinentry-mode loopback --passphrase '' --quick-gen-key "kvz catalog <cat@kvz.test>" ed25519 sign never
gpg -q --batch --export --armor > "$work/m/keys/release.asc"
sign() { gpg -q --batch --yes --pinentry-mode loopback --passphrase '' --armor --detach-sign -o "$2" "$1"; }
publish_pve() {
  python3 "$pub" aplinfo "$www/images" aplinfo-pve-8.dat "$@"
  sign "$www/images/aplinfo-pve-8.dat" "$www/images/aplinfo-pve-8.dat.asc"
}
publish_ss() {
  python3 "$pub" simplestreams "$www/ss" "$@"
  sign "$www/ss/streams/v1/index.json" "$www/ss/streams/v1/index.json.gpg"
  sign "$www/ss/streams/v1/images.json" "$www/ss/streams/v1/images.json.gpg"
}
publish_pve debian-12-standard 12.2-1 amd64 system/debian-12-standard_12.2-1_amd64.tar.xz \
  debian-12-standard 13.0-1 arm64 system/debian-12-standard_13.0-1_arm64.tar.xz
publish_ss debian:bookworm:amd64:default 20240101_05:24 root.tar.xz \
  "images/debian/bookworm/amd64/default/20240101_05:24/rootfs.tar.xz"

python3 "$src/tests/integration/httpd_faults.py" --root "$www" --port-file "$work/port" &
srv=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.05; done
port=$(cat "$work/port")
m=$work/m/kvz.yaml
cat > "$m" <<YAML
kvz: 1
stack: kvzt13-cat
catalogs:
  pve:
    kind: aplinfo
    url: http://127.0.0.1:$port/images/aplinfo-pve-8.dat
    keyring: keys/release.asc
  lxc:
    kind: simplestreams
    url: http://127.0.0.1:$port/ss
    keyring: keys/release.asc
templates:
  deb:
    catalog: pve
    name: debian-12-standard
  ss:
    catalog: lxc
    name: debian/bookworm
containers:
  kvzt13-web:
    template: deb
    memory: 256MiB
YAML
st=$work/state
sha512() { sha512sum "$1" | cut -d' ' -f1; }
v1_512=$(sha512 "$www/images/system/debian-12-standard_12.2-1_amd64.tar.xz")

# search: every entry, newest first, with version, type, arch, digest; words filter; --json
"$kvz" templates search -f "$m" >"$work/out" 2>"$work/err" || fail "search: $(cat "$work/err")"
grep -q "^CATALOG .*NAME .*VERSION .*TYPE .*ARCH .*SIZE .*DIGEST" "$work/out" || fail "search header: $(cat "$work/out")"
grep -q "^pve .*debian-12-standard .*13.0-1 .*rootfs .*arm64 .*sha512:" "$work/out" || fail "search arm64: $(cat "$work/out")"
grep -q "^pve .*debian-12-standard .*12.2-1 .*rootfs .*amd64 .*sha512:${v1_512:0:16}" "$work/out" || fail "search amd64: $(cat "$work/out")"
grep -q "^lxc .*debian:bookworm:default .*20240101_05:24 .*rootfs .*amd64 .*[0-9] [KMG]*i*B .*sha256:" "$work/out" || fail "search ss: $(cat "$work/out")"
! grep -q "pve-web-news\|incus.tar.xz" "$work/out" || fail "search lists news or metadata: $(cat "$work/out")"
"$kvz" templates search bookworm -f "$m" --json >"$work/out" || fail "search --json"
python3 - "$work/out" <<'PY' || fail "search json: $(cat "$work/out")"
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 1 and rows[0]["catalog"] == "lxc" and rows[0]["type"] == "rootfs", rows
assert rows[0]["digest"].startswith("sha256:") and rows[0]["size"] > 0, rows
PY

# pull: the newest amd64 entry (12.2-1; 13.0-1 is arm64), verified by its sha512
"$kvz" --state-dir "$st" templates pull -f "$m" >"$work/out" 2>"$work/err" || fail "pull: $(cat "$work/err")"
[[ $(cat "$st"/cache/objects/*/rootfs/etc/hostname | sort | tr '\n' ' ') == "ss1 v1 " ]] || fail "pulled: $(cat "$st"/cache/objects/*/rootfs/etc/hostname)"

# kvz lock: beside the manifest, sorted, the catalog versions and digests
"$kvz" --state-dir "$st" lock -f "$m" >"$work/out" 2>"$work/err" || fail "lock: $(cat "$work/err")"
grep -q "^deb: locked 12.2-1 sha512:" "$work/out" || fail "lock output: $(cat "$work/out")"
python3 - "$work/m/kvz.lock" "$v1_512" "$port" <<'PY' || fail "kvz.lock: $(cat "$work/m/kvz.lock")"
import json, sys
lock = json.load(open(sys.argv[1]))
d = lock["templates"]["deb"]
assert lock["kvz_lock"] == 1
assert d == {"catalog": "pve", "entry": "debian-12-standard", "version": "12.2-1",
             "digest": "sha512:" + sys.argv[2],
             "url": "http://127.0.0.1:%s/images/system/debian-12-standard_12.2-1_amd64.tar.xz" % sys.argv[3]}, d
s = lock["templates"]["ss"]
assert s["digest"].startswith("sha256:") and s["size"] > 0 and s["version"] == "20240101_05:24", s
assert list(lock["templates"]) == sorted(lock["templates"])
PY
cp "$work/m/kvz.lock" "$work/lock.v1"

# a newer entry is published: the lock keeps plan and pull on 12.2-1, without the index
rootfs "$www/images/system/debian-12-standard_12.7-1_amd64.tar.xz" v2
publish_pve debian-12-standard 12.2-1 amd64 system/debian-12-standard_12.2-1_amd64.tar.xz \
  debian-12-standard 12.7-1 amd64 system/debian-12-standard_12.7-1_amd64.tar.xz \
  debian-12-standard 13.0-1 arm64 system/debian-12-standard_13.0-1_arm64.tar.xz
v2_512=$(sha512 "$www/images/system/debian-12-standard_12.7-1_amd64.tar.xz")
before=$(hits /images/aplinfo-pve-8.dat)
"$kvz" --state-dir "$work/st2" templates pull -f "$m" --lockfile readonly >"$work/out" 2>"$work/err" || fail "locked pull: $(cat "$work/err")"
[[ $(cat "$work/st2"/cache/objects/*/rootfs/etc/hostname | sort | tr '\n' ' ') == "ss1 v1 " ]] || fail "the lock did not hold 12.2-1"
[[ $(hits /images/aplinfo-pve-8.dat) == "$before" ]] || fail "a locked pull fetched the index"
"$kvz" "${T[@]}" --state-dir "$st" plan -f "$m" --lockfile readonly >"$work/out" 2>"$work/err" || fail "locked plan: $(cat "$work/err")"

# lock without --upgrade keeps what is locked; --upgrade deb moves it, old -> new
"$kvz" "${T[@]}" --state-dir "$st" lock -f "$m" >"$work/out" 2>&1 || fail "relock: $(cat "$work/out")"
grep -q "is up to date: 2 templates locked" "$work/out" || fail "relock output: $(cat "$work/out")"
cmp -s "$work/m/kvz.lock" "$work/lock.v1" || fail "relock changed the lock"
"$kvz" "${T[@]}" --state-dir "$st" lock --upgrade deb -f "$m" >"$work/out" 2>"$work/err" || fail "upgrade: $(cat "$work/err")"
grep -q "^deb: 12.2-1 sha512:${v1_512:0:12}.* -> 12.7-1 sha512:${v2_512:0:12}" "$work/out" || fail "upgrade output: $(cat "$work/out")"
grep -q "no guest on the host is replaced by it" "$work/out" || fail "upgrade guests: $(cat "$work/out")"
grep -q '"version": "12.7-1"' "$work/m/kvz.lock" || fail "lock not upgraded: $(cat "$work/m/kvz.lock")"
"$kvz" --state-dir "$st" templates pull -f "$m" >"$work/out" 2>"$work/err" || fail "pull 12.7-1: $(cat "$work/err")"
grep -q "^v2$" "$st"/cache/objects/*/rootfs/etc/hostname || fail "12.7-1 not pulled"

# --lockfile readonly: a template not in the lock, or no lock at all, fails
sed 's/^templates:/templates:\n  ss2:\n    catalog: lxc\n    name: debian\/bookworm\/default/' "$m" > "$work/m/more.yaml"
cp "$work/m/kvz.lock" "$work/lock.v2"
if "$kvz" "${T[@]}" --state-dir "$st" plan -f "$work/m/more.yaml" --lockfile readonly >"$work/out" 2>&1; then fail "readonly with an unlocked template"; fi
grep -q "template 'ss2' is not in kvz.lock and --lockfile readonly changes nothing; run 'kvz lock'" "$work/out" || fail "readonly message: $(cat "$work/out")"
rm "$work/m/kvz.lock"
if "$kvz" "${T[@]}" --state-dir "$st" plan -f "$m" --lockfile readonly >"$work/out" 2>&1; then fail "readonly without a lock"; fi
grep -q "lockfile '$work/m/kvz.lock' is missing and --lockfile readonly writes none; run 'kvz lock'" "$work/out" || fail "readonly missing: $(cat "$work/out")"

# bytes changed under the pinned digest: refused, both digests named, nothing stored
cp "$work/lock.v1" "$work/m/kvz.lock"
rootfs "$www/images/system/debian-12-standard_12.2-1_amd64.tar.xz" evil
evil_512=$(sha512 "$www/images/system/debian-12-standard_12.2-1_amd64.tar.xz")
if "$kvz" --state-dir "$work/st3" templates pull -f "$m" >"$work/out" 2>"$work/err"; then fail "changed bytes accepted"; fi
grep -q "checksum mismatch for .*debian-12-standard_12.2-1_amd64.tar.xz': expected sha512:$v1_512, got sha512:$evil_512" "$work/err" || fail "mismatch message: $(cat "$work/err")"
! grep -qs "^evil$" "$work/st3"/cache/objects/*/rootfs/etc/hostname || fail "changed bytes stored"

# a tampered index (its signature kept): refused before any template is downloaded
rm "$work/m/kvz.lock"
sed -i 's/^Version: 12.7-1/Version: 12.9-1/' "$www/images/aplinfo-pve-8.dat"
before=$(hits /images/system/debian-12-standard_12.7-1_amd64.tar.xz)
if "$kvz" --state-dir "$work/st4" templates pull -f "$m" >"$work/out" 2>"$work/err"; then fail "tampered index accepted"; fi
grep -q "catalog 'pve': index 'http://127.0.0.1:$port/images/aplinfo-pve-8.dat': BAD signature by key" "$work/err" || fail "tampered message: $(cat "$work/err")"
[[ $(hits /images/system/debian-12-standard_12.7-1_amd64.tar.xz) == "$before" ]] || fail "downloaded after a bad index"
sign "$www/images/aplinfo-pve-8.dat" "$www/images/aplinfo-pve-8.dat.asc"

# a catalog without a keyring works, with a warning on every use
sed '/keyring:/d' "$m" > "$work/m/nokey.yaml"
"$kvz" templates search -f "$work/m/nokey.yaml" >"$work/out" 2>"$work/err" || fail "unsigned search: $(cat "$work/err")"
grep -q "catalog 'pve' is not verified (no keyring:)" "$work/err" || fail "no unverified warning: $(cat "$work/err")"

# an entry that is not there, and one with no rootfs for this host
sed 's/name: debian-12-standard/name: debian-13-standard/' "$m" > "$work/m/none.yaml"
if "$kvz" --state-dir "$work/st5" templates list -f "$work/m/none.yaml" >"$work/out" 2>&1; then fail "missing entry accepted"; fi
grep -q "catalog 'pve' has no entry 'debian-13-standard'; list its entries with 'kvz templates search'" "$work/out" || fail "missing entry: $(cat "$work/out")"
echo ok
