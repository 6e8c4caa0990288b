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
# remove_networks URI PREFIX: every libvirt network named PREFIX* on URI, stopped and undefined
remove_networks() {
  local n
  for n in $(virsh -q -c "$1" net-list --all --name 2>/dev/null | grep "^$2"); do
    virsh -q -c "$1" net-destroy "$n" >/dev/null 2>&1
    virsh -q -c "$1" net-undefine "$n" >/dev/null 2>&1
  done
}
# remove_pools URI DIR: every kvz storage pool on URI whose directory lies under DIR
remove_pools() {
  local pool
  for pool in $(virsh -q -c "$1" pool-list --all --name 2>/dev/null | grep '^kvz-'); do
    if virsh -q -c "$1" pool-dumpxml "$pool" 2>/dev/null | grep -q "<path>$2/"; then
      virsh -q -c "$1" pool-destroy "$pool" >/dev/null 2>&1
      virsh -q -c "$1" pool-undefine "$pool" >/dev/null 2>&1
    fi
  done
}
finish() {
  if ((fails)); then echo "$0: $fails failed"; exit 1; fi
  echo "$0: ok"
}
# ct_memory_limit URI NAME: the memory limit (bytes) the kernel enforces on the running
# container NAME, read from its init's cgroup (v1 memory controller, or v2's memory.max)
ct_memory_limit() {
  local id pid cg
  id=$(virsh -q -c "$1" domid "$2" 2>/dev/null | head -1)
  pid=$(cut -d' ' -f1 "/proc/$id/task/$id/children" 2>/dev/null) || return 1
  cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$pid/cgroup")
  if [[ -n $cg ]]; then cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes"; else
    cat "/sys/fs/cgroup$(awk -F: '$1 == 0 {print $3}' "/proc/$pid/cgroup")/memory.max"; fi
}
