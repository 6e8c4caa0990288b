#!/usr/bin/env bash
# kvz templates pull|list|prune end to end: a manifest, the kvz binary and the
# fault-injecting HTTP server on 127.0.0.1.
set -euo pipefail
kvz=${KVZ_BINARY:?}
src=${KVZ_SOURCE_DIR:?}
work=$(mktemp -d /tmp/kvzt-$$-cli.XXXXXX)
srv=
cleanup() { [[ -n $srv ]] && kill "$srv" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
count() { curl -fsS "http://127.0.0.1:$port/_ctl/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }

mkdir -p "$work/www" "$work/r/etc" "$work/r/usr/bin"
echo web > "$work/r/etc/hostname"
cp /bin/true "$work/r/usr/bin/su" && chmod 4755 "$work/r/usr/bin/su"
tar --numeric-owner -C "$work/r" -czf "$work/www/rootfs.tar.gz" .
tar --numeric-owner -C "$work/r" -cJf "$work/www/other.tar.xz" etc
python3 - "$work/www/install.bin" <<'PY'
import sys
b = bytearray(0x9000)
b[0x8000:0x8006] = b"\x01CD001"
open(sys.argv[1], "wb").write(b)
PY
python3 "$src/tests/integration/httpd_faults.py" --root "$work/www" --port-file "$work/port" &
srv=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.05; done
port=$(cat "$work/port")
sha() { sha256sum "$work/www/$1" | cut -d' ' -f1; }
(cd "$work/www" && sha256sum other.tar.xz | sed 's/  / */' > SHA256SUMS)

cat > "$work/m.yaml" <<YAML
kvz: 1
templates:
  rootfs:
    url: http://127.0.0.1:$port/rootfs.tar.gz
    sha256: $(sha rootfs.tar.gz)
  other:
    url: http://127.0.0.1:$port/other.tar.xz
    checksums: http://127.0.0.1:$port/SHA256SUMS
  loose:
    url: http://127.0.0.1:$port/rootfs.tar.gz
    insecure: true
containers:
  web1:
    template: rootfs
    memory: 256MiB
YAML
st=$work/state

# pull: all three, stored once per content, insecure warned about
"$kvz" --state-dir "$st" templates pull -f "$work/m.yaml" >"$work/out" 2>"$work/err" || { cat "$work/err"; fail "pull"; }
grep -q "^rootfs .*rootfs .*sha256:.*ready" "$work/out" || fail "pull output: $(cat "$work/out")"
grep -q "template 'loose' is not verified" "$work/err" || fail "no insecure warning on pull"
[[ $(stat -c %a "$st/cache/objects/$(sha rootfs.tar.gz)/rootfs/usr/bin/su") == 4755 ]] || fail "setuid lost"
[[ $(ls "$st/cache/objects" | wc -l) == 2 ]] || fail "expected 2 objects: $(ls "$st/cache/objects")"
# issue 8 item 15: the progress shows the template's download, not its SUMS file's
other_size=$(stat -c %s "$work/www/other.tar.xz")
grep -q "^other: fetching the checksums file" "$work/err" || fail "no checksums line: $(cat "$work/err")"
grep -q "^other: downloading .*B" "$work/err" || fail "no download line for other: $(cat "$work/err")"
! grep -q "^other: downloading $(stat -c %s "$work/www/SHA256SUMS") B" "$work/err" ||
  fail "the progress showed the SUMS file as the download: $(cat "$work/err")"
[[ $(grep -c "^other: stored" "$work/err") == 1 ]] || fail "stored reported more than once: $(cat "$work/err")"

# a second pull touches no network at all
before=$(count)
"$kvz" -q --state-dir "$st" templates pull -f "$work/m.yaml" 2>/dev/null || fail "second pull"
[[ $(count) == "$before" ]] || fail "second pull made $(( $(count) - before )) requests"

# list: every template, cached
"$kvz" --state-dir "$st" templates list -f "$work/m.yaml" >"$work/out" 2>"$work/err" || fail "list"
grep -q "^NAME .*KIND .*SIZE .*DIGEST .*CACHED" "$work/out" || fail "list header: $(cat "$work/out")"
[[ $(grep -c " yes$" "$work/out") == 3 ]] || fail "list: $(cat "$work/out")"
grep -q "template 'loose' is not verified" "$work/err" || fail "no insecure warning on list"
[[ $(count) == "$before" ]] || fail "list made requests"

# prune with a manifest that only keeps 'rootfs'
sed '/^  other:/,/checksums:/d; /^  loose:/,/insecure:/d' "$work/m.yaml" > "$work/keep.yaml"
"$kvz" --state-dir "$st" templates prune -f "$work/keep.yaml" >"$work/out" || fail "prune"
grep -q "^removed 1 cache entry, freed [0-9.]* [KM]iB" "$work/out" || fail "prune output: $(cat "$work/out")"
[[ -d $st/cache/objects/$(sha rootfs.tar.gz)/rootfs/etc ]] || fail "prune removed a kept template"
"$kvz" --state-dir "$st" templates list -f "$work/m.yaml" >"$work/out" 2>/dev/null
grep -q "^other .* no$" "$work/out" || fail "pruned template still listed as cached: $(cat "$work/out")"

# an ISO used as a container template: refused, naming both
cat > "$work/iso.yaml" <<YAML
kvz: 1
templates:
  install:
    url: http://127.0.0.1:$port/install.bin
    sha256: $(sha install.bin)
containers:
  c1:
    template: install
    memory: 256MiB
YAML
if "$kvz" --state-dir "$st" templates pull -f "$work/iso.yaml" >"$work/out" 2>"$work/err"; then
  fail "ISO accepted as a container template"
fi
# (the name says nothing, so only the content can tell)
grep -q "template 'install' holds an ISO image (iso) but is used as a container template" "$work/err" ||
  fail "ISO error: $(cat "$work/err")"

# https with a certificate nobody vouches for: refused, not retried
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
python3 "$src/tests/integration/httpd_faults.py" --root "$work/www" --port-file "$work/tport" \
  --tls "$work/cert.pem" "$work/key.pem" &
tsrv=$!
for _ in $(seq 100); do [[ -s $work/tport ]] && break; sleep 0.05; done
sed "s#http://127.0.0.1:$port/rootfs.tar.gz#https://127.0.0.1:$(cat "$work/tport")/rootfs.tar.gz#" \
  "$work/keep.yaml" > "$work/tls.yaml"
if "$kvz" --state-dir "$work/tls-state" templates pull -f "$work/tls.yaml" 2>"$work/err" >/dev/null; then
  kill $tsrv; fail "self-signed https accepted"
fi
kill $tsrv
grep -q "https://127.0.0.1:.*certificate" "$work/err" || fail "TLS error: $(cat "$work/err")"
grep -q "retrying" "$work/err" && fail "a certificate failure was retried"

# usage errors
if "$kvz" --state-dir "$st" templates frobnicate -f "$work/m.yaml" 2>"$work/err"; then fail "bad action"; fi
grep -q "unknown action 'frobnicate'" "$work/err" || fail "bad action message: $(cat "$work/err")"
echo "templates_cli: ok"
