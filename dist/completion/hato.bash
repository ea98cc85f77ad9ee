# bash completion for hato(8): commands, options, and the queue IDs of the running daemon
# (asked with `hato queue ls --json`, with the -c FILE given on the line) for the queue
# verbs that take IDs. Installed as /usr/share/bash-completion/completions/hato.

# _hato_ids - the IDs of the queued messages (only held ones for release); nothing when
# the daemon is not running.
_hato_ids() {
  local state=$1
  local -a ls=("${_hato_bin}" "${_hato_cfg[@]}" queue ls --json)
  [[ -n $state ]] && ls+=(--state "$state")
  "${ls[@]}" 2>/dev/null | sed -n 's/^{"id":"\([^"]*\)".*/\1/p'
}

_hato() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  # The binary as typed (build/hato completes from its own daemon), and -c FILE.
  local _hato_bin=${COMP_WORDS[0]}
  local -a _hato_cfg=() args=()
  local i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      -c | --config)
        _hato_cfg=(-c "${COMP_WORDS[i + 1]}")
        ((i++))
        ;;
      *) args+=("${COMP_WORDS[i]}") ;;
    esac
  done
  COMPREPLY=()

  # Values of options.
  case $prev in
    -c | --config | --out)
      COMPREPLY=($(compgen -f -- "$cur"))
      return
      ;;
    --state)
      COMPREPLY=($(compgen -W "queued deferred held" -- "$cur"))
      return
      ;;
    --algorithm)
      COMPREPLY=($(compgen -W "rsa-sha256 ed25519-sha256" -- "$cur"))
      return
      ;;
    --domain | --days | --selector | --bits | --limit | --reason | --hostname | --public-ip | \
      --acme-email | --smarthost)
      return
      ;;
  esac

  local cmd=${args[0]-} sub=${args[1]-} words=
  if ((${#args[@]} == 0)); then
    words="serve init config user queue warmup events blacklist suppress dmarc dkim dns backup
           -c --config --help"
  elif ((${#args[@]} == 1)); then
    case $cmd in
      init) words="--domain --hostname --public-ip --acme-email --smarthost --mx --force
                   --config" ;;
      config) words="check keys" ;;
      user) words="add remove list key frozen thaw baseline" ;;
      queue) words="ls show cat tail summary flush hold release delete bounce" ;;
      warmup | events) words="status" ;;
      blacklist) words="status check" ;;
      suppress) words="ls add remove import export" ;;
      dmarc) words="summary" ;;
      dkim) words="keygen" ;;
      dns) words="records check" ;;
      backup) words="create restore" ;;
    esac
  else
    case "$cmd $sub" in
      "init "*) words="--domain --hostname --public-ip --acme-email --smarthost --mx --force
                       --config" ;;
      "user add") words="--password-stdin" ;;
      "queue ls") words="--json --domain --state --limit" ;;
      "queue show") words="--json $(_hato_ids)" ;;
      "queue cat" | "queue hold" | "queue delete" | "queue bounce") words=$(_hato_ids) ;;
      "queue release") words=$(_hato_ids held) ;;
      "queue flush") words="--domain $(_hato_ids)" ;;
      "queue tail") words="--json" ;;
      "queue summary") words="--json --state --cluster" ;;
      "warmup status") words="--json --cluster" ;;
      "events status" | "blacklist status" | "blacklist check") words="--json" ;;
      "suppress ls") words="--domain --json" ;;
      "suppress add") words="--reason --domain" ;;
      "suppress remove") words="--domain" ;;
      "suppress import")
        COMPREPLY=($(compgen -f -- "$cur"))
        return
        ;;
      "dmarc summary") words="--domain --days --json" ;;
      "dkim keygen") words="--domain --selector --algorithm --bits --out" ;;
      "dns records" | "dns check") words="--domain" ;;
      "backup create" | "backup restore")
        [[ $sub == restore ]] && words="--force"
        COMPREPLY=($(compgen -d -- "$cur") $(compgen -W "$words" -- "$cur"))
        return
        ;;
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}

complete -F _hato hato
