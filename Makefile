# parkgrid — build, run, test.
#
#   make run    build and start a complete simulated car park (see README.md)
#   make test   install what the tests need, start the services, run every test
#
# Nothing here needs more than Go and Debian's apt on a fresh machine.

SHELL      := /bin/bash
GO         ?= go
BIN        := $(CURDIR)/bin
GOBIN      ?= $(shell $(GO) env GOPATH)/bin
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -s -w -X main.version=$(VERSION)
CACHE      := $(CURDIR)/.cache
INFLUXD    := $(GOBIN)/influxd
STRIPEMOCK := $(GOBIN)/stripe-mock
# Debian package:command that shows it is there (a command already on the
# PATH counts, however it was installed).
APT_NEEDS  := mbpoll:mbpoll python3-pymodbus:pymodbus postgresql-client:psql mosquitto:mosquitto mosquitto-clients:mosquitto_pub chromium:chromium
NFPM       := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
DIST       ?= $(CURDIR)/dist
ARCHES     ?= amd64 arm64 armv7
TEST_TIMEOUT ?= 30m

.PHONY: all build run demo test test-unit lint bench dist deps services influxd stripe-mock csms clean help

all: build

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

# build says what it does: the first build on a fresh machine compiles the
# pure-Go SQLite driver and takes 3-4 minutes on 2 cores (up to 10 on a
# busy machine); later builds take seconds.
build:
	@mkdir -p $(BIN)
	@echo "building bin/parkgrid ($(VERSION)); the first build on a fresh machine takes 3-4 minutes (pure-Go SQLite), later ones seconds"
	@CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/parkgrid ./cmd/parkgrid & pid=$$!; s=0; \
	while kill -0 $$pid 2>/dev/null; do sleep 1; s=$$((s+1)); [ $$((s % 30)) -ne 0 ] || echo "  still compiling ($$s s)"; done; \
	wait $$pid && echo "built bin/parkgrid in $$s s"

run: build
	@echo "starting the simulated car park (Ctrl-C stops it)"
	$(BIN)/parkgrid demo

demo: run

# deps installs the Debian packages the integration tests talk to (someone
# else's Modbus client and server, the PostgreSQL client, Mosquitto).
deps:
	@missing=""; for need in $(APT_NEEDS); do p=$${need%%:*}; c=$${need#*:}; \
	  if [ "$$c" = pymodbus ]; then python3 -c 'import pymodbus' 2>/dev/null && continue; else command -v $$c >/dev/null && continue; fi; \
	  missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get install -y $$missing >/dev/null 2>&1 || { $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y $$missing; }; \
	fi

influxd: $(INFLUXD)
$(INFLUXD):
	@echo "building InfluxDB 1.8.10 with go install, once: 1-2 minutes on an idle 2-core machine, up to 5 on a busy one"
	GOBIN=$(GOBIN) $(GO) install github.com/influxdata/influxdb/cmd/influxd@v1.8.10

# stripe-mock checks the Stripe adapter's request shapes against Stripe's
# OpenAPI description; the tests start it themselves.
stripe-mock: $(STRIPEMOCK)
$(STRIPEMOCK):
	GOBIN=$(GOBIN) $(GO) install github.com/stripe/stripe-mock@v0.203.0

# csms installs the strict OCPP 1.6J central system the OCPP e2e test runs
# (npm ocpp-rpc, pinned by e2e/testdata/csms/package-lock.json).
CSMS := e2e/testdata/csms
csms: $(CSMS)/node_modules/.package-lock.json
$(CSMS)/node_modules/.package-lock.json: $(CSMS)/package-lock.json
	cd $(CSMS) && npm ci --no-audit --no-fund

# services starts PostgreSQL, Mosquitto and InfluxDB when they are down.
services: deps influxd stripe-mock csms
	@deploy/services.sh "$(INFLUXD)" "$(CACHE)"

test: services
	$(GO) vet ./...
	@status=0; \
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./... || status=$$?; \
	$(GO) test -count=1 -run Layering ./internal/layering/ || status=$$?; \
	deploy/services.sh --stop "$(CACHE)"; \
	exit $$status

# test-unit runs the tests without installing or starting anything;
# tests needing a missing service skip (locally) or fail (CI=true).
test-unit:
	$(GO) test -race ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: services
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

# dist writes, per architecture, dist/parkgrid_<version>_linux_<arch>.tar.gz
# (binary, README, example configs, systemd units) and a .deb built with
# nfpm (deploy/nfpm.yaml: binary, units, a parkgrid system user,
# /etc/parkgrid examples), then SHA256SUMS over all of them.
# ARCHES=amd64 limits it to one architecture.
dist:
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@for a in $(ARCHES); do \
	  case $$a in armv7) goarch=arm; goarm=7; debarch=armhf;; *) goarch=$$a; goarm=; debarch=$$a;; esac; \
	  name=parkgrid_$(VERSION)_linux_$$a; stage=$(DIST)/$$name; \
	  echo "dist: $$name"; mkdir -p $$stage/deploy/systemd; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$goarch GOARM=$$goarm $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$stage/parkgrid ./cmd/parkgrid || exit 1; \
	  cp README.md $$stage/ && cp deploy/*.yaml $$stage/deploy/ && cp deploy/systemd/*.service $$stage/deploy/systemd/ || exit 1; \
	  tar -C $(DIST) -czf $(DIST)/$$name.tar.gz $$name || exit 1; \
	  sed -e "s#@VERSION@#$$(deploy/debversion.sh $(VERSION))#" -e "s#@ARCH@#$$debarch#" -e "s#@BIN@#$$stage/parkgrid#" \
	    deploy/nfpm.yaml.in > $(DIST)/nfpm-$$a.yaml || exit 1; \
	  $(GO) run $(NFPM) package --config $(DIST)/nfpm-$$a.yaml --packager deb --target $(DIST)/ || exit 1; \
	  rm -f $(DIST)/nfpm-$$a.yaml; \
	  rm -rf $$stage; \
	done
	@cd $(DIST) && sha256sum *.tar.gz *.deb > SHA256SUMS && cat SHA256SUMS

clean:
	rm -rf $(BIN) dist $(CACHE)
