# Sourced by the shell integration tests: TAP-like reporting and command checks.
# Each test sets `fails=0` and calls `finish` at the end.

ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
# run EXPECTED_STATUS CMD...: runs, keeps stdout+stderr in $out, checks the exit status
run() {
  local want=$1; shift
  out=$("$@" </dev/null 2>&1); local st=$?
  if [[ $st != "$want" ]]; then
    bad "exit $st (wanted $want): $*"; printf '%s\n' "$out" | sed 's/^/    /'
    return 1
  fi
  return 0
}
# has TEXT: $out holds TEXT (reported when not)
has() {
  grep -qF -- "$1" <<<"$out" && return 0
  bad "output lacks: $1"; printf '%s\n' "$out" | sed 's/^/    /'
  return 1
}
# lacks TEXT: $out does not hold TEXT (reported when it does)
lacks() {
  ! grep -qF -- "$1" <<<"$out" && return 0
  bad "output holds: $1"; printf '%s\n' "$out" | sed 's/^/    /'
  return 1
}
# remove_domains URI PREFIX: every domain named PREFIX* on URI, forced off and undefined
remove_domains() {
  local d
  for d in $(virsh -q -c "$1" list --all --name 2>/dev/null | grep "^$2"); do
    virsh -q -c "$1" destroy "$d" >/dev/null 2>&1
    virsh -q -c "$1" undefine --nvram "$d" >/dev/null 2>&1 || virsh -q -c "$1" undefine "$d" >/dev/null 2>&1
  done
}
finish() {
  if ((fails)); then echo "$0: $fails failed"; exit 1; fi
  echo "$0: ok"
}
