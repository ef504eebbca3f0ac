# Two commands: `make demo` and `make test`. Everything else is what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
SYSTEM_PACKAGES := lua5.4 bubblewrap tclsh chromium
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo demo-services test system venv serve bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

system:
	@bash scripts/install-system-packages

# The embedded default: SQLite in ./data, tasks in-process, DEBUG on for a plain-http localhost.
demo: system venv
	DEBUG=1 $(PY) manage.py demo
	DEBUG=1 $(PY) manage.py runserver 127.0.0.1:8000

# The same pipeline on Postgres + Redis + a real Celery worker (see scripts/demo-services).
demo-services: system venv
	bash scripts/demo-services

test: system venv
	$(PY) -m pytest

bench: venv
	$(PY) bench/sandbox.py

clean:
	rm -rf data var
