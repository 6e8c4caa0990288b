# Sourced by the shell integration tests: TAP-like reporting and checks on a command's output.
# fails counts the failures; the test ends with: echo "$fails failure(s)"; [[ $fails == 0 ]]
fails=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
run() { # run EXPECTED_STATUS CMD...: runs it without stdin, stdout+stderr in $out
  local want=$1; shift
  out=$("$@" </dev/null 2>&1); local st=$?
  if [[ $st != "$want" ]]; then
    bad "exit $st (wanted $want): $*"; printf '%s\n' "$out" | sed 's/^/    /'
    return 1
  fi
  return 0
}
has() { # has TEXT: $out holds TEXT, else a failure showing $out
  grep -qF -- "$1" <<<"$out" && return 0
  bad "output lacks: $1"; printf '%s\n' "$out" | sed 's/^/    /'
  return 1
}
lacks() { # lacks TEXT: $out does not hold TEXT
  grep -qF -- "$1" <<<"$out" || return 0
  bad "output has: $1"; printf '%s\n' "$out" | sed 's/^/    /'
  return 1
}
