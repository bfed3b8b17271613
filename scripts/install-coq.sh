#!/usr/bin/env bash
# Install Coq 8.16 and the libraries fansi's formal mode uses, from Debian:
#   coq                        coqc, coqchk, coqtop
#   libcoq-coquelicot          real analysis (some miniF2F statements import it)
#   libcoq-interval            the `interval` tactic for real inequalities
#   libcoq-mathcomp-ssreflect  ssreflect
# Idempotent: when coqc is on PATH and a probe file that requires every library
# compiles, nothing is installed.
#   bash scripts/install-coq.sh
set -euo pipefail

PACKAGES=(coq libcoq-coquelicot libcoq-interval libcoq-mathcomp-ssreflect)

say() { printf '\033[1m[install-coq]\033[0m %s\n' "$*"; }

probe() {
  command -v coqc >/dev/null || return 1
  local dir
  dir=$(mktemp -d)
  cat >"$dir/probe.v" <<'EOF'
From Coq Require Import Reals Lia Lra Psatz.
From Coquelicot Require Import Coquelicot.
From Interval Require Import Tactic.
From mathcomp Require Import ssreflect.
EOF
  local ok=0
  (cd "$dir" && coqc -q probe.v >/dev/null 2>&1) || ok=1
  rm -rf "$dir"
  return $ok
}

if probe; then
  say "already installed"
else
  if ! command -v apt-get >/dev/null; then
    say "apt-get not found: install ${PACKAGES[*]} (or the opam packages coq.8.16," \
        "coq-coquelicot, coq-interval, coq-mathcomp-ssreflect) by hand"
    exit 1
  fi
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  say "installing ${PACKAGES[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${PACKAGES[@]}"
  if ! probe; then
    say "coqc is installed but the probe file does not compile"
    exit 1
  fi
fi

say "$(coqc --version | head -n 1)"
