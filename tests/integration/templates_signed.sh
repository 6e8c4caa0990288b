#!/usr/bin/env bash
# Signed SUMS files (issue 13): `signature:` and `keyring:` on a template, real keys and
# signatures made with gpg in a temporary GNUPGHOME, served by the HTTP server on 127.0.0.1.
# Good, tampered SUMS, another key, missing signature: only the good one downloads anything.
set -euo pipefail
kvz=${KVZ_BINARY:?}
src=${KVZ_SOURCE_DIR:?}
work=$(mktemp -d /tmp/kvzt13-$$-sig.XXXXXX)
srv=
cleanup() {
  [[ -n $srv ]] && kill "$srv" 2>/dev/null
  for k in good other; do GNUPGHOME=$work/$k gpgconf --kill all 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
hits() { curl -fsS "http://127.0.0.1:$port/_ctl/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"].get(sys.argv[1], 0))' "$1"; }

mkdir -p "$work/www" "$work/r/etc" "$work/keys" "$work/good" "$work/other"
chmod 700 "$work/good" "$work/other"
echo signed > "$work/r/etc/hostname"
tar --numeric-owner -C "$work/r" -cJf "$work/www/rootfs.tar.xz" .
(cd "$work/www" && sha512sum rootfs.tar.xz > SHA512SUMS)
for k in good other; do
  GNUPGHOME=$work/$k gpg -q --batch --pinentry-mode loopback --passphrase '' \
    --quick-gen-key "kvz test $k <$k@kvz.test>" ed25519 sign never
done
GNUPGHOME=$work/good gpg -q --batch --export --armor > "$work/keys/release.asc"
GNUPGHOME=$work/good gpg -q --batch --export > "$work/keys/release.gpg"
good_fpr=$(GNUPGHOME=$work/good gpg --batch --with-colons --list-keys | awk -F: '/^fpr/ {print $10; exit}')
other_fpr=$(GNUPGHOME=$work/other gpg --batch --with-colons --list-keys | awk -F: '/^fpr/ {print $10; exit}')
sign() { GNUPGHOME=$work/$1 gpg -q --batch --yes --pinentry-mode loopback --passphrase '' "${@:3}" --detach-sign -o "$2" "$work/www/SHA512SUMS"; }
sign good "$work/www/SHA512SUMS.sign"            # binary, as Debian's SHA512SUMS.sign
sign good "$work/www/SHA512SUMS.asc" --armor
sign other "$work/www/SHA512SUMS.other" --armor

python3 "$src/tests/integration/httpd_faults.py" --root "$work/www" --port-file "$work/port" &
srv=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.05; done
port=$(cat "$work/port")

manifest() { # FILE SUMS SIGNATURE KEYRING
  cat > "$1" <<YAML
kvz: 1
templates:
  ct:
    url: http://127.0.0.1:$port/rootfs.tar.xz
    checksums: http://127.0.0.1:$port/$2
    signature: http://127.0.0.1:$port/$3
    keyring: $4
YAML
}
refused() { # NAME MANIFEST EXPECTED-MESSAGE
  local st=$work/st-$1
  if "$kvz" --state-dir "$st" templates pull -f "$2" >"$work/out" 2>"$work/err"; then
    fail "$1: pull succeeded: $(cat "$work/out")"
  fi
  grep -qF -- "$3" "$work/err" || fail "$1: message: $(cat "$work/err")"
  [[ $(hits /rootfs.tar.xz) == 0 ]] || fail "$1: the template was downloaded"
  [[ -z $(ls "$st/cache/objects" 2>/dev/null) ]] || fail "$1: something was stored"
}

# another key's signature: refused, naming the signer
manifest "$work/other.yaml" SHA512SUMS SHA512SUMS.other keys/release.asc
refused other "$work/other.yaml" "is signed by key $other_fpr"
grep -qF "which is not in keyring '$work/keys/release.asc'" "$work/err" || fail "other: keyring not named: $(cat "$work/err")"

# a missing signature (404): refused
manifest "$work/missing.yaml" SHA512SUMS SHA512SUMS.nope keys/release.asc
refused missing "$work/missing.yaml" "signature 'http://127.0.0.1:$port/SHA512SUMS.nope'"

# the SUMS file where its signature should be
manifest "$work/notsig.yaml" SHA512SUMS SHA512SUMS keys/release.asc
refused notsig "$work/notsig.yaml" "the signature cannot be read"

# a keyring file that is not there
manifest "$work/nokeys.yaml" SHA512SUMS SHA512SUMS.asc keys/absent.asc
refused nokeys "$work/nokeys.yaml" "keys/absent.asc"

# tampered SUMS (another digest for the same file, signature kept): BAD signature by the key
cp "$work/www/SHA512SUMS" "$work/SHA512SUMS.orig"
printf '%0128d  rootfs.tar.xz\n' 0 > "$work/www/SHA512SUMS"
manifest "$work/tampered.yaml" SHA512SUMS SHA512SUMS.asc keys/release.asc
refused tampered "$work/tampered.yaml" "BAD signature by key $good_fpr"
cp "$work/SHA512SUMS.orig" "$work/www/SHA512SUMS"

# good: armored keyring and signature, then binary ones; the content verified and stored
manifest "$work/good.yaml" SHA512SUMS SHA512SUMS.asc keys/release.asc
"$kvz" --state-dir "$work/st-good" templates pull -f "$work/good.yaml" >"$work/out" 2>"$work/err" ||
  fail "good pull: $(cat "$work/err")"
grep -q "^ct .*rootfs .*sha256:.*ready" "$work/out" || fail "good pull output: $(cat "$work/out")"
[[ $(cat "$work/st-good/cache/objects/"*/rootfs/etc/hostname) == signed ]] || fail "good: content"
manifest "$work/good-bin.yaml" SHA512SUMS SHA512SUMS.sign keys/release.gpg
"$kvz" --state-dir "$work/st-bin" templates pull -f "$work/good-bin.yaml" >"$work/out" 2>"$work/err" ||
  fail "binary signature: $(cat "$work/err")"

# kvz lock verifies the signature too: another key's refused, no lock written
mkdir -p "$work/lk"
cp -r "$work/keys" "$work/lk/"
sed 's/SHA512SUMS.asc/SHA512SUMS.other/' "$work/good.yaml" > "$work/lk/kvz.yaml"
if "$kvz" --state-dir "$work/st-lk" lock -f "$work/lk/kvz.yaml" >"$work/out" 2>"$work/err"; then fail "lock with another key's signature"; fi
grep -qF "is signed by key $other_fpr" "$work/err" || fail "lock: $(cat "$work/err")"
[[ ! -e $work/lk/kvz.lock ]] || fail "a lock was written from an unverified SUMS file"
# the good signature: locked; the SUMS file is then not fetched again, even when it moves
cp "$work/good.yaml" "$work/lk/kvz.yaml"
"$kvz" --state-dir "$work/st-lk" lock -f "$work/lk/kvz.yaml" >"$work/out" 2>"$work/err" || fail "lock: $(cat "$work/err")"
digest=$(cut -d' ' -f1 "$work/www/SHA512SUMS")
grep -q "\"digest\": \"sha512:$digest\"" "$work/lk/kvz.lock" || fail "lock content: $(cat "$work/lk/kvz.lock")"
grep -q "\"checksums\": \"http://127.0.0.1:$port/SHA512SUMS\"" "$work/lk/kvz.lock" || fail "lock content: $(cat "$work/lk/kvz.lock")"
sums_before=$(hits /SHA512SUMS)
printf '%0128d  rootfs.tar.xz\n' 1 > "$work/www/SHA512SUMS"
"$kvz" --state-dir "$work/st-lk" templates pull -f "$work/lk/kvz.yaml" --lockfile readonly >"$work/out" 2>"$work/err" ||
  fail "locked pull: $(cat "$work/err")"
[[ $(hits /SHA512SUMS) == "$sums_before" ]] || fail "a locked pull fetched the SUMS file"
cp "$work/SHA512SUMS.orig" "$work/www/SHA512SUMS"

# a signature without a keyring is a manifest error
sed '/keyring:/d' "$work/good.yaml" > "$work/nokeyring.yaml"
if "$kvz" validate -f "$work/nokeyring.yaml" >"$work/out" 2>&1; then fail "validate without keyring"; fi
grep -q "has a signature but no 'keyring:'" "$work/out" || fail "validate: $(cat "$work/out")"
echo "ok"
