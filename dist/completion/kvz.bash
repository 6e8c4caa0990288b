# bash completion for kvz: the candidates come from `kvz __complete WORDS...` (commands,
# options, resource names of the manifests given with -f, option values); where it offers none,
# file names. Installed into bash-completion's completions directory.
_kvz() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local IFS=$'\n'
  # shellcheck disable=SC2207
  COMPREPLY=($(kvz __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
  if ((${#COMPREPLY[@]} == 0)) && [[ $cur != -* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
    compopt -o filenames 2>/dev/null
  fi
}
complete -F _kvz kvz
