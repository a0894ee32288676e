# Two commands take a fresh clone to a running demo and to green tests: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test crash-sweep lint bench bench-update schema clean

$(PY):
	$(PYTHON) -c 'import sys; sys.exit("vmimage needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the requirements change.
$(STAMP): $(PY) requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m offline up --stack dev

test: $(STAMP)
	$(PY) -m pytest -q -n 2

# A crash at every operation of a batched version bump, re-run to convergence (a few
# minutes: a run pair per crash point); CI runs it after `make test`.
crash-sweep: $(STAMP)
	$(PY) -m pytest -q -n 2 -m crash_sweep tests/test_crash_sweep.py

# The workflows too: zizmor (security audits; --offline: no GitHub API calls, so no token is
# needed and none in the environment can make it go online) and actionlint (syntax,
# expressions, action inputs; shellcheck on `run:` blocks). Each exits non-zero on a finding.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/zizmor --offline --no-progress .github/workflows
	$(VENV)/bin/actionlint -color=false -shellcheck=$(VENV)/bin/shellcheck -pyflakes= .github/workflows/*.yml

# bench prints the results and fails when a target is not met; bench-update also rewrites
# bench/results.md and bench/results.png (commit those with the README's numbers).
bench: $(STAMP)
	$(PY) -m bench

bench-update: $(STAMP)
	$(PY) -m bench --update

schema: $(STAMP)
	$(PY) -m vmimage.config.schema

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
