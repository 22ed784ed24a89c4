#!/usr/bin/env bash
# packaging/bash-completion/certrotd, loaded with Debian's bash-completion as an interactive
# shell would: subcommands, per-subcommand options, option values, and credential names read
# from the configuration named with --config.
source "$(dirname "$0")/lib.sh"
src=${CERTROTD_SOURCE_DIR:?}
framework=/usr/share/bash-completion/bash_completion
[ -r "$framework" ] || fail "$framework missing (scripts/setup installs bash-completion)"

"$CERTROTD" ca init --dir "$work/ca" >/dev/null || fail "ca init"
cat >"$work/config.yaml" <<YAML
state_dir: $work/state
issuers:
  dev: { type: local, ca_cert: $work/ca/ca.pem, ca_key: $work/ca/ca.key }
credentials:
  web: { issuer: dev, sans: ["DNS:web.test"] }
  api.internal: { issuer: dev, sans: ["DNS:api.test"] }
YAML

# complete WORDS...: COMPREPLY, sorted and space-separated, for a command line whose last word
# is the one being completed (an empty last word completes after a space).
cat >"$work/complete.bash" <<'BASH'
source /usr/share/bash-completion/bash_completion
source "$COMPLETION"
complete_line() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _certrotd
  printf '%s\n' "${COMPREPLY[@]}" | sort | xargs
}
BASH

expect() {
  local want=$1; shift
  local got
  got=$(PATH="$(dirname "$CERTROTD"):$PATH" COMPLETION="$src/packaging/bash-completion/certrotd" \
    bash -c 'source "$1"; shift; complete_line "$@"' _ "$work/complete.bash" "$@") ||
    fail "completion of '$*' failed"
  [ "$got" = "$want" ] || fail "completion of '$*': got '$got', want '$want'"
}

expect "rollback rotate" certrotd ro
expect "--bus --config --help --json" certrotd status --
expect "system user" certrotd run --bus ""
expect "journal" certrotd run --log-target j
expect "init" certrotd ca ""
expect "--dir --force --help --intermediate" certrotd ca init --
expect "api.internal web" certrotd where-used --config "$work/config.yaml" ""
expect "web" certrotd rollback -c "$work/config.yaml" w
# bash breaks "--config=FILE" into three words.
expect "api.internal" certrotd test-connection --config = "$work/config.yaml" a
# No names from a configuration that does not load.
expect "" certrotd where-used --config "$work/missing.yaml" ""
echo PASS
