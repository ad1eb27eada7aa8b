# The targets the original MessageBridge's users know. The README's two commands, scripts/run.sh and
# scripts/test.sh, stay the front door; these are shortcuts over the same scripts.
#
#   make deps build test run-dev          develop
#   make release                          dist/messagebridge-VERSION-linux-ARCH.tar.gz (static Swift runtime)
#   make install                          make release, then the tarball's sudo scripts/install.sh $(INSTALL_ARGS)
#   make uninstall-safe | uninstall-full  keep config and data | remove them and the nginx site too
#   make docker-build                     the image messagebridge:latest
#   make test-webhook                     POST a sample webhook to a running server ($(URL))

SHELL := /bin/bash
SWIFT ?= swift
SCRATCH_PATH ?= .build
CONFIG ?= config.yaml
URL ?= http://localhost:8080
ROUTE ?= /webhook/payment
IMAGE ?= messagebridge:latest
# For example INSTALL_ARGS="--domain hooks.example.com" or INSTALL_ARGS=--minimal.
INSTALL_ARGS ?=
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: help deps build test ops-test run-dev release install uninstall-safe uninstall-full docker-build \
	test-webhook fmt lint clean

help:
	@sed -n '1,/^$$/{s/^# \{0,1\}//;p}' Makefile

deps:
	scripts/setup.sh

build:
	$(SWIFT) build --scratch-path $(SCRATCH_PATH)

test:
	SCRATCH_PATH=$(SCRATCH_PATH) scripts/test.sh

# The operations checks alone (tarball, scratch install, systemd, nginx, promtool); needs a build.
ops-test: build
	SCRATCH_PATH=$(SCRATCH_PATH) scripts/ops-test.sh

# Debug build, starter configuration if there is none, text logs at debug level.
run-dev: build
	@[ -f $(CONFIG) ] || $(SCRATCH_PATH)/debug/messagebridge init --output $(CONFIG)
	LOG_LEVEL=debug $(SCRATCH_PATH)/debug/messagebridge serve --config $(CONFIG)

release:
	SCRATCH_PATH=$(SCRATCH_PATH) scripts/release.sh --configuration release

# The operator's path: build the release tarball, unpack it, run its installer.
install:
	@tarball="$$(SCRATCH_PATH=$(SCRATCH_PATH) scripts/release.sh --configuration release)" && dir="$$(mktemp -d)" \
		&& tar -xzf "$$tarball" -C "$$dir" && $(SUDO) "$$dir"/messagebridge-*/scripts/install.sh $(INSTALL_ARGS); \
		status=$$?; rm -rf "$$dir"; exit $$status

uninstall-safe:
	$(SUDO) scripts/uninstall.sh

uninstall-full:
	$(SUDO) scripts/uninstall.sh --remove-data --remove-nginx

docker-build:
	docker build -t $(IMAGE) .

test-webhook:
	curl -fsS -X POST "$(URL)$(ROUTE)" -H 'Content-Type: application/json' \
		-H "X-Request-ID: make-test-webhook-$$(date +%s)" \
		-d '{"order_id": "12345", "amount": 100.00, "currency": "USD"}'
	@echo

fmt:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

lint:
	$(SWIFT) format lint --recursive Sources Tests Package.swift
	bash -n scripts/*.sh scripts/lib/*.sh scripts/kafka/*.sh
	@if command -v shellcheck >/dev/null; then shellcheck scripts/*.sh; else echo "lint: shellcheck not installed, skipped"; fi
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml

clean:
	rm -rf dist
