#!/usr/bin/env bash
# Git sources (issue 12): repositories made with the git CLI, fetched over file://, over ssh
# to an sshd on a loopback port and over https (git http-backend behind TLS and basic auth); the mirror, --offline, bad input (each one line, no mirror
# left half-made), a force push, host keys, signed commits (ssh-keygen and gpg).
# No libvirt: everything here goes through 'kvz validate'.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
work=$(mktemp -d /tmp/kvzt12-XXXXXX)
state=$work/state
export KVZ_STATE_DIR=$state NO_COLOR=1 HOME=$work/home GIT_CONFIG_NOSYSTEM=1
unset SSH_AUTH_SOCK KVZ_REQUIRE_SIGNED
mkdir -p "$HOME/.ssh"
fails=0
sshd_pid= https_pid=
cleanup() {
  [[ -n $sshd_pid ]] && kill "$sshd_pid" 2>/dev/null
  [[ -n $https_pid ]] && kill "$https_pid" 2>/dev/null
  [[ -n ${GNUPGHOME:-} ]] && gpgconf --kill all 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/shlib.sh"

g() { git -C "$work/clone" -c user.name=kvz-test -c user.email=test@example.org "$@"; }
manifest() { # manifest MEMORY: the stack's one container
  printf 'kvz: 1\nstack: kvzt12\ntemplates:\n  bb:\n    url: file:///nonexistent/bb.tar.gz\n    sha256: %s\ncontainers:\n  kvzt12-a:\n    template: bb\n    memory: %s\n    network: none\n' \
    "$(printf '0%.0s' {1..64})" "$1"
}
commit() { # commit MEMORY [git commit options...]
  manifest "$1" >"$work/clone/web/kvz.yaml"
  g add web/kvz.yaml && g "${@:2}" commit -q -m "memory $1" && g push -q -f origin HEAD:main 2>/dev/null
}

git init -q --bare -b main "$work/origin.git"
git clone -q "$work/origin.git" "$work/clone" 2>/dev/null
mkdir -p "$work/clone/web"
commit 64MiB
c1=$(g rev-parse HEAD)
src="git+file://$work/origin.git//web"

# --- first fetch: a bare mirror under the state dir, the commit named
run 0 "$kvz" validate -f "$src" && has "commit $c1 of main" && has "valid (1 container"
mirror=$(ls -d "$state"/git/*[^k] | head -1)
check "the mirror is bare" test -f "$mirror/HEAD" -a ! -e "$mirror/.git"
check "the mirror holds main" test "$(git --git-dir="$mirror" rev-parse main)" = "$c1"
run 0 "$kvz" validate -f "$src?ref=main" && has "commit $c1 of main"
run 0 "$kvz" validate -f "$src?ref=${c1:0:10}" && has "commit $c1"
g tag v1 && g push -q origin v1 2>/dev/null
run 0 "$kvz" validate -f "$src?ref=v1" && has "commit $c1 of v1"
run 0 "$kvz" validate -f "git+file://$work/origin.git//web/kvz.yaml" && has "valid"

# --- a second run fetches only what is new
commit 96MiB
c2=$(g rev-parse HEAD)
objs=$(find "$mirror/objects" -type f | wc -l)
run 0 "$kvz" validate -f "$src" && has "commit $c2 of main"
new=$(( $(find "$mirror/objects" -type f | wc -l) - objs ))
check "the second fetch brought only the new commit ($new files)" test "$new" -ge 1 -a "$new" -le 4

# --- --offline: the mirror as it is
commit 128MiB
c3=$(g rev-parse HEAD)
run 0 "$kvz" validate --offline -f "$src" && has "offline: using the mirror" && has "commit $c2 of main"
ls "$state/git" >"$work/git.before"
run 1 "$kvz" validate --offline -f "git+file://$work/other.git//web" && has "no mirror of"
check "--offline without a mirror makes nothing" diff -q "$work/git.before" <(ls "$state/git")

# --- diagnostics name the commit and the file in it
manifest 64MiB | sed 's/memory:/memroy:/' >"$work/clone/web/kvz.yaml"
g checkout -q -b bad && g commit -q -am bad && g push -q origin bad 2>/dev/null
cb=$(g rev-parse HEAD)
g checkout -q main
run 1 "$kvz" validate -f "$src?ref=bad" && has "file://$work/origin.git@$cb:web/kvz.yaml:10:5: error: unknown key 'memroy'"

# --- bad input: one line each, and no mirror left by a failed first fetch
before=$(ls "$state/git" | grep -vc '\.lock$')
# what a killed first fetch left (<state>/git/<sha256 of the URL>.tmp.PID) is removed
stale=$state/git/$(printf %s "file://$work/missing.git" | sha256sum | cut -c1-32).tmp.999999
mkdir -p "$stale/objects"
run 1 "$kvz" validate -f "git+file://$work/missing.git//web" && has "cannot fetch 'file://$work/missing.git'"
check "a killed first fetch's leftovers are removed" test ! -e "$stale"
check "error is one line" test "$(wc -l <<<"$out")" = 1
check "no mirror of a missing repository" test "$(ls "$state/git" | grep -vc '\.lock$')" = "$before"
run 1 "$kvz" validate -f "$src?ref=nope" && has "ref 'nope' is not a branch, tag or commit"
run 1 "$kvz" validate -f "git+file://$work/origin.git//db" && has "'db' is not in commit $c3"
run 1 "$kvz" validate -f "git+ftp://example.org/x.git//web" && has "unsupported scheme"
run 1 "$kvz" validate -f "git+file://$work/origin.git//../etc" && has "PATH must name"
run 1 "$kvz" validate -f "git+https://user:s3cret@example.invalid/x.git//web" && lacks "s3cret" && has "***"
cp -a "$mirror" "$work/mirror.bak"
echo "$c1" >"$mirror/shallow"
run 1 "$kvz" validate -f "$src" && has "is shallow" && has "remove that directory"
rm -f "$mirror/shallow"
echo garbage >"$mirror/HEAD"
run 1 "$kvz" validate -f "$src" && has "is corrupt" && has "remove that directory"
rm -rf "$mirror" && cp -a "$work/mirror.bak" "$mirror"

# --- a force-pushed branch: said, then the new commit used
g reset -q --hard "$c1"
commit 80MiB
c4=$(g rev-parse HEAD)
run 0 "$kvz" validate -f "$src" && has "history of 'main'" && has "was rewritten" && has "commit $c4 of main"

# --- ssh: an sshd on a loopback port, the user's key authorized, host keys checked
sshd=$(command -v sshd || echo /usr/sbin/sshd)
if [[ -x $sshd && $(id -u) == 0 ]]; then
  sd=$work/sshd
  mkdir -p "$sd"
  ssh-keygen -q -t ed25519 -N '' -f "$sd/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$HOME/.ssh/id_ed25519"
  cp "$HOME/.ssh/id_ed25519.pub" "$sd/authorized_keys"
  port=$((20000 + RANDOM % 20000))
  cat >"$sd/config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $sd/host_key
AuthorizedKeysFile $sd/authorized_keys
PidFile $sd/pid
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
CFG
  mkdir -p /run/sshd
  "$sshd" -D -e -f "$sd/config" 2>"$sd/log" &
  sshd_pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  ssrc="git+ssh://root@127.0.0.1:$port$work/origin.git//web"
  run 1 "$kvz" validate -f "$ssrc" && has "is not in ~/.ssh/known_hosts"
  check "no mirror of an unknown host" test -z "$(ls -d "$state"/git/*.tmp.* 2>/dev/null)"
  ssh-keygen -q -t ed25519 -N '' -f "$work/other_host_key"
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$work/other_host_key.pub")" >"$HOME/.ssh/known_hosts"
  run 1 "$kvz" validate -f "$ssrc" && has "does not match ~/.ssh/known_hosts"
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$sd/host_key.pub")" >"$HOME/.ssh/known_hosts"
  run 0 "$kvz" validate -f "$ssrc" && has "commit $c4 of main"
  mv "$HOME/.ssh/id_ed25519" "$HOME/.ssh/id_off"
  rm -rf "$state"/git/*
  run 1 "$kvz" validate -f "$ssrc" && has "ssh refused every key"
  mv "$HOME/.ssh/id_off" "$HOME/.ssh/id_ed25519"
  kill "$sshd_pid"; wait "$sshd_pid" 2>/dev/null; sshd_pid=
else
  echo "ok - skip ssh: no sshd or not root"
fi

# --- https: TLS (the CA in SSL_CERT_FILE), basic authentication with a token from ~/.netrc or
# the URL, never shown
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
mkdir -p "$work/srv" && git clone -q --bare "$work/origin.git" "$work/srv/infra.git"
python3 "$(dirname "$0")/git_https_server.py" "$work/srv" "$work/tls.crt" "$work/tls.key" alice s3cret "$work/port" &
https_pid=$!
for _ in $(seq 50); do [[ -s $work/port ]] && break; sleep 0.1; done
hsrc="git+https://localhost:$(cat "$work/port")/infra.git//web"
export SSL_CERT_FILE=$work/tls.crt
rm -f "$HOME/.netrc"
run 1 "$kvz" validate -f "$hsrc" && has "asks for credentials: put a token in ~/.netrc"
echo "machine localhost login alice password wrong" >"$HOME/.netrc"
run 1 "$kvz" validate -f "$hsrc" && has "refused the credentials of ~/.netrc" && lacks "wrong"
echo "machine localhost login alice password s3cret" >"$HOME/.netrc"
run 0 "$kvz" validate -f "$hsrc" && has "commit $c4 of main" && lacks "s3cret"
rm -f "$HOME/.netrc"
run 0 "$kvz" validate -f "${hsrc/https:\/\//https://alice:s3cret@}?ref=main" && has "https://***@localhost" && lacks "s3cret"
check "no credentials in the state dir" test -z "$(grep -rl s3cret "$state" 2>/dev/null)"
unset SSL_CERT_FILE
run 1 "$kvz" validate -f "${hsrc/https:\/\//https://alice:s3cret@}" && has "not correctly signed by the trusted CA" && lacks "s3cret"
check "a certificate error is one line" test "$(wc -l <<<"$out")" = 1
kill "$https_pid"; wait "$https_pid" 2>/dev/null; https_pid=

# --- signed commits: ssh signatures (ssh-keygen) and OpenPGP (gpg)
ssh-keygen -q -t ed25519 -N '' -C alice -f "$work/alice"
ssh-keygen -q -t ed25519 -N '' -C mallory -f "$work/mallory"
echo "alice@example.org $(cut -d' ' -f1,2 "$work/alice.pub")" >"$work/allowed_signers"
commit 72MiB -c gpg.format=ssh -c user.signingkey="$work/alice.pub" -c commit.gpgsign=true
cs=$(g rev-parse HEAD)
commit 73MiB
run 4 "$kvz" validate -f "$src" --require-signed "$work/allowed_signers" && has "commit $(g rev-parse --short=12 HEAD) of 'file://$work/origin.git' refused by --require-signed" && has "not signed"
run 0 "$kvz" validate -f "$src?ref=$cs" --require-signed "$work/allowed_signers" && has "commit $cs, signed by alice@example.org (ssh key SHA256:"
KVZ_REQUIRE_SIGNED=$work/allowed_signers run 4 "$kvz" validate -f "$src" && has "not signed"
g -c gpg.format=ssh -c user.signingkey="$work/mallory.pub" commit -q --allow-empty -S -m mallory && g push -q origin HEAD:main 2>/dev/null
run 4 "$kvz" validate -f "$src" --require-signed "$work/allowed_signers" && has "signed by SHA256:$(ssh-keygen -lf "$work/mallory.pub" | cut -d' ' -f2 | cut -d: -f2), a key not in that file"

export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg -q --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'Bob <bob@example.org>' ed25519 sign never 2>/dev/null
gpg -q --batch --export >"$work/keyring.gpg"
g -c gpg.program=gpg -c user.signingkey=bob@example.org commit -q --allow-empty -S -m bob && g push -q origin HEAD:main 2>/dev/null
run 0 "$kvz" validate -f "$src" --require-signed "$work/keyring.gpg" && has "signed by Bob <bob@example.org> (OpenPGP key"
run 4 "$kvz" validate -f "$src" --require-signed "$work/allowed_signers" && has "OpenPGP signature and that file is an allowed-signers file"
gpg -q --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'Eve <eve@example.org>' ed25519 sign never 2>/dev/null
g -c gpg.program=gpg -c user.signingkey=eve@example.org commit -q --allow-empty -S -m eve && g push -q origin HEAD:main 2>/dev/null
run 4 "$kvz" validate -f "$src" --require-signed "$work/keyring.gpg" && has "refused by --require-signed"

finish
