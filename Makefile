# Two commands: `make run` (install, migrate, start scrapyd + the API) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev browser migrate bench node clean

run: install
	$(BIN)/python -m control_api.processes.supervisor

# A crawler machine: a scrapyd node for this project (docs/deploy.md), e.g.
# make node NODE_ARGS="--bind 0.0.0.0 --port 6800 --max-proc 4" with DATABASE_URL and SCRAPYD_USERNAME/PASSWORD set.
node: install
	$(BIN)/python -m control_api.processes.scrapyd_node $(NODE_ARGS)

test: install-dev browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The slow-origin part holds pages in nginx's JavaScript module (bench/nginxconf.py): installed when
# missing and we are root; without it that part stops with a message saying what to install.
NJS_MODULE ?= /usr/lib/nginx/modules/ngx_http_js_module.so
bench: install-dev
	@if [ ! -e $(NJS_MODULE) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing libnginx-mod-http-js for the bench's slow origins"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnginx-mod-http-js >/dev/null) \
	    || echo "Could not install libnginx-mod-http-js: the slow-origin part will stop"; \
	fi
	$(BIN)/python -m bench $(BENCH_ARGS)

migrate: install
	$(BIN)/flask --app control_api migrate

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed-runtime $@

# The dashboard's browser tests drive Debian's headless Chromium. Installed when missing and we are
# root (CI is); otherwise those tests are skipped and say why. Under CI (`CI` set, as .ci/run does)
# a Chromium that cannot be installed stops the run here: CI must not pass without the browser tests.
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -x $(CHROMEDRIVER) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing chromium and chromium-driver for the dashboard's browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
	      && [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]) \
	      || { echo "Could not install Chromium: the browser tests will be skipped"; missing=1; }; \
	  else echo "No Chromium and not root: the dashboard's browser tests will be skipped"; missing=1; fi; \
	  case "$${CI:-}" in ""|0|false|False|FALSE|no) ;; \
	    *) if [ -n "$${missing:-}" ]; then echo "CI: Chromium and chromedriver are required; stopping" >&2; exit 1; fi;; esac; \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache
