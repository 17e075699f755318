# Arena's two set-up commands (README):
#   make run   install everything, migrate, load the demo event if the database is empty, serve
#   make test  install what the tests need (Debian's chromium too) and run the whole suite
# Everything is idempotent: a second run only does what changed.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
APT_GET := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

.PHONY: run test lint install install-test vendor translations system-packages system-test-packages serve clean bench

run: install
	$(PY) -m server migrate
	$(PY) -m server load-demo --if-empty
	$(PY) -m server serve

test: install-test lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The rules docs/architecture.md writes down, checked: ruff (rules in pyproject.toml), the
# layers (import-linter, .importlinter) and the front-end's ES modules (eslint.config.js).
lint: install-test
	$(VENV)/bin/ruff check server tests bench scripts
	$(VENV)/bin/lint-imports --config .importlinter
	node_modules/.bin/eslint static/js

install: $(VENV)/.installed vendor translations system-packages

install-test: install $(VENV)/.installed-test system-test-packages

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# The locks (scripts/lock-requirements makes them from requirements*.txt; docs/dependencies.md)
# pin every package, the transitive ones too, with hashes: pip refuses anything else. A changed
# lock re-installs.
$(VENV)/.installed: requirements.lock | $(VENV)/bin/python
	$(PIP) install --require-hashes -r requirements.lock
	touch $@

$(VENV)/.installed-test: requirements-test.lock requirements.lock | $(VENV)/bin/python
	$(PIP) install --require-hashes -r requirements-test.lock
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Front-end files come from npm (locked), copied into static/vendor; never from a CDN.
vendor: node_modules/.package-lock.json
	mkdir -p static/vendor
	cp node_modules/hls.js/dist/hls.min.js static/vendor/hls.min.js
	cp node_modules/socket.io-client/dist/socket.io.min.js static/vendor/socket.io.min.js

translations: $(VENV)/.installed
	$(VENV)/bin/pybabel compile -d translations

# Arena itself needs Debian's ffmpeg at run time: recording imports (yt-dlp merges and checks
# with ffmpeg/ffprobe), uploaded videos (ffprobe) and go-live; and nginx with its RTMP module
# for RTMP ingest, which `serve` runs as its own child process (server/media/rtmp.py; Debian
# may also start the nginx service on port 80: `systemctl disable --now nginx` if unwanted).
RTMP_MODULE := /usr/lib/nginx/modules/ngx_rtmp_module.so

system-packages:
	@if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null || ! [ -x /usr/sbin/nginx ] \
		|| ! [ -f $(RTMP_MODULE) ]; then \
		$(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq ffmpeg nginx \
			libnginx-mod-rtmp; \
	fi

# Browser tests drive Debian's chromium; media tests need ffmpeg; tests/test_golive_nginx.py
# runs docs/nginx.conf with its own nginx process, and the RTMP tests (tests/test_ingest_nginx.py)
# the nginx-rtmp that each test server starts (Debian may also start the nginx service on
# port 80: `systemctl disable --now nginx` if that is unwanted). The fault tests
# (tests/live/test_faults.py) start, kill and restart a Redis and a PostgreSQL of their own
# (tests/services.py), so they need Debian's server binaries. The deployment test
# (tests/deploy/) makes a certificate with openssl and checks the unit with systemd-analyze.
# Nothing downloads a browser.
system-test-packages:
	@if ! command -v chromium >/dev/null || ! command -v ffmpeg >/dev/null || ! [ -x /usr/sbin/nginx ] \
		|| ! [ -f $(RTMP_MODULE) ] || ! command -v redis-server >/dev/null \
		|| ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| ! command -v openssl >/dev/null || ! command -v systemd-analyze >/dev/null; then \
		$(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq chromium ffmpeg nginx \
			libnginx-mod-rtmp redis-server postgresql openssl systemd; \
	fi

# The benchmarks' own clients (websockets, uvloop) are not needed by Arena or its tests, nor is
# the Node reference server's socket.io (bench/node_server.js), which comes from npm, locked.
bench: install-test
	$(PIP) install -r bench/requirements.txt
	cd bench && npm ci --no-audit --no-fund
	$(PY) bench/event_page.py

clean:
	rm -rf $(VENV) node_modules static/vendor
