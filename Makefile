# The two newcomer commands (README): `make run` and `make test`.
.PHONY: setup run test

setup:
	bash scripts/setup.sh

run: setup
	.venv/bin/python launch/train.py --config=configs/mbpp.py

test: setup
	XLA_PYTHON_CLIENT_PREALLOCATE=false .venv/bin/python -m pytest -q tests
