#!/usr/bin/env bash
# The README's set-up, as written, in fresh clones of this repository: its first command
# (`scripts/bootstrap quickstart`) once as root with no sudo on PATH (a fresh Debian has none),
# once as a user with sudo; each must build, install kvz into /usr/local (kvz on PATH, man kvz,
# bash completion), take the quickstart tour and leave nothing running. The second command
# (`scripts/bootstrap test`) is what .ci/run runs, checked to be the same line. Builds reuse
# objects through ccache (an environment knob: the command run is still the README's line).
# The user, its sudoers entry and the install are removed at exit.
set -uo pipefail
src=${KVZ_SOURCE_DIR:?}
p=kvzt14-$$
user=kvzt14u$$
work=$(mktemp -d /tmp/$p-readme-XXXXXX)
chmod 755 "$work"
fails=0
. "$(dirname "$0")/shlib.sh"
cleanup() {
  remove_domains lxc:///system hello
  remove_domains qemu:///system hello-vm
  remove_networks qemu:///system qs-lan
  [[ -f $work/user/clone/build/install_manifest.txt ]] &&
    xargs -d '\n' rm -f <"$work/user/clone/build/install_manifest.txt"
  [[ -f $work/root/clone/build/install_manifest.txt ]] &&
    xargs -d '\n' rm -f <"$work/root/clone/build/install_manifest.txt"
  rm -f "/etc/sudoers.d/$p"
  id "$user" >/dev/null 2>&1 && userdel -r "$user" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The README's commands: the indented lines of its set-up section that run a script.
mapfile -t cmds < <(awk '/^## Set-up/ {on = 1; next} /^## / {on = 0} on && /^    scripts\// {sub(/^    /, ""); print}' "$src/README.md")
check "the README's set-up has two commands" test "${#cmds[@]}" = 2
check "its second is what CI runs (.ci/run)" grep -qx "exec ${cmds[1]}" "$src/.ci/run"
[[ ${cmds[0]} == "scripts/bootstrap quickstart" ]] || bad "the first command is '${cmds[0]}'"
command -v sudo >/dev/null || { echo "sudo is not installed (apt-get install sudo)"; exit 1; }

knobs=(CMAKE_C_COMPILER_LAUNCHER=ccache "CCACHE_DIR=$work/ccache" "CCACHE_BASEDIR=$work" CCACHE_NOHASHDIR=1)
clone() { # clone DIR OWNER: a fresh clone of this repository's committed tree
  mkdir -p "$1" && git clone -q "$src" "$1/clone" && chown -R "$2" "$1"
}
tour_ok() { # tour_ok WHO: what every run must have done
  has "Quickstart done" && has "(live)" && has "hello-vm runs under" && has "Destroy complete: 3 changes done" &&
    has "134217728 bytes (128 MiB)" && ok "$1: the quickstart ran to its end"
  check "$1: kvz is on PATH" test "$(command -v kvz)" = /usr/local/bin/kvz
  check "$1: kvz --version runs" kvz --version
  check "$1: man kvz finds the page" test "$(realpath "$(man -w kvz)")" = /usr/local/share/man/man1/kvz.1
  check "$1: man kvz.yaml finds the page" man -w kvz.yaml
  check "$1: bash completion installed" test -f /usr/local/share/bash-completion/completions/kvz
  check "$1: nothing left running" test -z "$(virsh -q -c lxc:///system list --all --name | grep -x hello)$(virsh -q -c qemu:///system list --all --name | grep -x hello-vm)"
}

# --- as root, no sudo on PATH: a PATH of links to every program of /usr/bin and /usr/sbin but it
mkdir -p "$work/path" "$work/ccache"
for f in /usr/bin/* /usr/sbin/*; do
  [[ ${f##*/} == sudo || -e $work/path/${f##*/} ]] || ln -s "$f" "$work/path/${f##*/}"
done
clone "$work/root" root
t0=$SECONDS
run 0 env PATH="/usr/local/bin:$work/path" "${knobs[@]}" bash -c '! command -v sudo >/dev/null || exit 98; cd "$1" && '"${cmds[0]}" _ "$work/root/clone" &&
  ok "as root without sudo: '${cmds[0]}' in $((SECONDS - t0)) s"
printf '%s\n' "$out" >"$work/root.log"
tour_ok root

# --- as a user with sudo (NOPASSWD, for this test only)
useradd -m -s /bin/bash "$user" || { echo "cannot add a user"; exit 1; }
echo "$user ALL=(ALL) NOPASSWD:ALL" >"/etc/sudoers.d/$p" && chmod 440 "/etc/sudoers.d/$p"
clone "$work/user" "$user"
chown -R "$user" "$work/ccache"
t0=$SECONDS
run 0 runuser -u "$user" -- env "${knobs[@]}" bash -c "cd '$work/user/clone' && ${cmds[0]}" &&
  ok "as a user with sudo: '${cmds[0]}' in $((SECONDS - t0)) s"
tour_ok user
check "the build is the user's" test "$(stat -c %U "$work/user/clone/build/cmd/kvz")" = "$user"

# --- the README's uninstall
run 0 runuser -u "$user" -- bash -c "cd '$work/user/clone' && scripts/uninstall" && ok "scripts/uninstall ran"
check "uninstall removed kvz and its man page" test ! -e /usr/local/bin/kvz -a ! -e /usr/local/share/man/man1/kvz.1
finish
