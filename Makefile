# Tailor's two commands: `make demo` (the main job) and `make test` (what CI runs).
SHELL := /bin/bash
export TAILOR_ASSETS ?= $(CURDIR)/.assets
UNAME := $(shell uname -s)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FUZZ_SECONDS ?= 60
FUZZ ?=

.PHONY: test demo deps assets build release fuzz bench clean

## test: install what is missing, fetch the test assets, run logic tests (debug) and numeric tests (release)
test: deps assets
	swift build --build-tests
	swift test --skip-build --skip NumericTests
	swift build -c release --build-tests -Xswiftc -enable-testing
	swift test -c release --skip-build -Xswiftc -enable-testing --filter NumericTests

## demo: fetch SmolLM2, fine-tune it on facts about a made-up planet (Examples/data) and show held-out answers before and after (about 5 minutes on 2 cores)
demo: deps assets release
	Scripts/demo

deps:
ifeq ($(UNAME),Linux)
	@missing=""; for p in libopenblas-dev libdnnl-dev; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "make: installing$$missing (OpenBLAS, oneDNN)" >&2; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi
endif

assets:
	@Scripts/fetch-assets

build:
	swift build

release:
	swift build -c release

## fuzz: every parser under libFuzzer for FUZZ_SECONDS each, or only the entries named in FUZZ (see README, Development)
fuzz:
	Scripts/fuzz $(FUZZ_SECONDS) $(FUZZ)

clean:
	rm -rf .build .build-*
