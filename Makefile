# Two entry points for a fresh Debian machine:
#   make demo   set everything up, then scan the bundled fixtures/
#   make test   set everything up, then run lint, type checks, rule checks and the test suite
# Both install the system packages they need (tesseract-ocr, libmagic1, ...) when missing.

VENV     ?= .venv
PY       := $(VENV)/bin/python
BIN      := $(VENV)/bin
# libkrb5-dev and gcc: the kerberos extra's gssapi and krb5 build against MIT Kerberos.
SYS_PKGS := tesseract-ocr tesseract-ocr-eng libmagic1 fonts-dejavu-core fonts-liberation \
            libkrb5-dev gcc
# Only the test suite needs a real browser (HTML report test) and Samba servers (SMB tests):
# a standalone smbd, and an AD DC with its KDC for --smb-kerberos (samba-tool provisions it,
# winbindd maps its users, kinit gets the ticket, nss_wrapper keeps winbindd's socket private).
TEST_PKGS := chromium samba samba-ad-provision samba-dsdb-modules winbind krb5-user libnss-wrapper
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system system-test demo test lint fixtures bench clean

setup: system $(VENV)/.installed
	@# An editable install leaves bytecode to the first import, and with
	@# PYTHONDONTWRITEBYTECODE set (CI images often do) every run compiled mfaleaks
	@# from source: ~20 ms of each start (a cached rescan: 182 -> 160 ms). pip compiles
	@# a regular install the same way. Quick when nothing changed.
	@$(PY) -m compileall -q src

system:
	@need="$(SYS_PKGS)"; python3 -c 'import ensurepip, venv' 2>/dev/null || need="$$need python3-venv"; \
	python3 -c 'import os, sysconfig; assert os.path.exists(sysconfig.get_paths()["include"] + "/Python.h")' \
	  2>/dev/null || need="$$need python3-dev"; \
	missing=$$(for p in $$need; do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

system-test:
	@missing=$$(for p in $(TEST_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing test packages:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[gpl,smb,kerberos,dev,cluster]'
	touch $@

fixtures: setup
	$(PY) scripts/make_fixtures.py fixtures

demo: setup
	@[ -f fixtures/expected.json ] || $(PY) scripts/make_fixtures.py fixtures
	@$(BIN)/mfaleaks scan fixtures; rc=$$?; \
	if [ $$rc -eq 1 ]; then echo "(exit code 1: recovery material found, as planted in fixtures/)"; \
	else exit $$rc; fi

lint: setup
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/mypy
	@# The package layering of docs/architecture.md (contracts in pyproject.toml).
	$(BIN)/lint-imports

test: setup system-test lint
	$(BIN)/mfaleaks rules check
	$(BIN)/pytest

bench: setup
	$(PY) bench/bench_text.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
