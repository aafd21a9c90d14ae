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
VERSION    ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -s -w -X main.version=$(VERSION)
CACHE      := $(CURDIR)/.cache
INFLUXD    := $(GOBIN)/influxd
APT_PKGS   := mbpoll python3-pymodbus postgresql-client mosquitto mosquitto-clients
TEST_TIMEOUT ?= 15m

.PHONY: all build run demo test test-unit lint bench dist deps services influxd clean help

all: build

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/parkgrid ./cmd/parkgrid

run: build
	$(BIN)/parkgrid demo

demo: run

# deps installs the Debian packages the integration tests talk to (someone
# else's Modbus client and server, the PostgreSQL client, Mosquitto).
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get install -y $$missing >/dev/null 2>&1 || { $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y $$missing; }; \
	fi

influxd: $(INFLUXD)
$(INFLUXD):
	GOBIN=$(GOBIN) $(GO) install github.com/influxdata/influxdb/cmd/influxd@v1.8.10

# services starts PostgreSQL, Mosquitto and InfluxDB when they are down.
services: deps influxd
	@deploy/services.sh "$(INFLUXD)" "$(CACHE)"

test: services
	$(GO) vet ./...
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -count=1 -run Layering ./internal/layering/

# test-unit runs the tests without installing or starting anything;
# tests needing a missing service skip (locally) or fail (CI=true).
test-unit:
	$(GO) test -race ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: services
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

dist:
	@mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/parkgrid-linux-amd64 ./cmd/parkgrid
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/parkgrid-linux-arm64 ./cmd/parkgrid
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/parkgrid-linux-armv7 ./cmd/parkgrid
	@ls -l dist

clean:
	rm -rf $(BIN) dist $(CACHE)
