#!/usr/bin/env bash
# A real Debian 12 rootfs (mmdebstrap, cached in /var/cache/kvz-test) pulled
# over HTTP by `kvz templates pull`, compared file by file (type, mode, owner,
# size, link target, mtime, xattrs) with GNU tar's extraction of the same archive.
# Skipped (exit 77) when the Debian mirror is unreachable.
set -euo pipefail
kvz=${KVZ_BINARY:?}
src=${KVZ_SOURCE_DIR:?}
archive=$("$src/tests/integration/debian-rootfs") || exit 77
work=$(mktemp -d /var/tmp/kvzt-$$-debian.XXXXXX)
srv=
cleanup() { [[ -n $srv ]] && kill "$srv" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$work/www" "$work/tar"
ln "$archive" "$work/www/debian12.tar.zst" 2>/dev/null || cp "$archive" "$work/www/debian12.tar.zst"
python3 "$src/tests/integration/httpd_faults.py" --root "$work/www" --port-file "$work/port" &
srv=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.05; done
port=$(cat "$work/port")
sha=$(sha256sum "$archive" | cut -d' ' -f1)
cat > "$work/m.yaml" <<YAML
kvz: 1
templates:
  debian12:
    url: http://127.0.0.1:$port/debian12.tar.zst
    sha256: $sha
containers:
  web1:
    template: debian12
    memory: 512MiB
YAML
# a cut mid-way on the way, to resume a real archive
curl -fsS -d '{"path": "/debian12.tar.zst", "faults": ["cut:20000000"]}' "http://127.0.0.1:$port/_ctl/script" >/dev/null
"$kvz" --state-dir "$work/state" templates pull -f "$work/m.yaml" >"$work/out" 2>"$work/err" ||
  { cat "$work/err"; fail "pull"; }
grep -q "retrying" "$work/err" || fail "the cut transfer was not retried: $(cat "$work/err")"
root=$work/state/cache/objects/$sha/rootfs
[[ -f $root/etc/debian_version ]] || fail "no etc/debian_version in $root"
grep -q '^12' "$root/etc/debian_version" || fail "not Debian 12"
[[ $(stat -c %a "$root/usr/bin/passwd") == 4755 ]] || fail "passwd lost its setuid bit"
[[ $(stat -c %U "$root/usr/bin/passwd") == root ]] || fail "passwd not owned by root"

tar --numeric-owner --xattrs --xattrs-include='*' --acls -xpf "$archive" -C "$work/tar"
listing() { (cd "$1" && find . -printf '%p|%y|%m|%U|%G|%s|%l|%T@\n' | LC_ALL=C sort); }
listing "$root" > "$work/kvz.list"
listing "$work/tar" > "$work/tar.list"
# Regular files and links: sizes count; directory sizes depend on the filesystem.
sed -i -E 's/^([^|]*\|d\|[^|]*\|[^|]*\|[^|]*)\|[0-9]+/\1|-/' "$work/kvz.list" "$work/tar.list"
diff -u "$work/tar.list" "$work/kvz.list" | head -20 >&2 && [[ ${PIPESTATUS[0]} == 0 ]] ||
  fail "kvz's tree differs from GNU tar's"
(cd "$root" && getfattr -R -h -d -m - . 2>/dev/null) > "$work/kvz.xattr" || true
(cd "$work/tar" && getfattr -R -h -d -m - . 2>/dev/null) > "$work/tar.xattr" || true
diff -u "$work/tar.xattr" "$work/kvz.xattr" >&2 || fail "xattrs differ"
echo "store_debian: $(wc -l < "$work/kvz.list") entries identical to GNU tar's"
