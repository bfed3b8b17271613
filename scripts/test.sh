#!/usr/bin/env bash
# Install everything needed for the tests, then run lint, types and every test tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
