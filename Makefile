# A thin wrapper over CMake; every target installs what it needs first.
BUILD ?= build
CMAKE_FLAGS ?=
NPROC := $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build test run bench bench-trigger install clean

all: build

deps:
	@scripts/deps.sh build test

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(NPROC)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(NPROC)

run: build
	scripts/run.sh $(BUILD)

bench:
	@scripts/deps.sh build bench
	$(MAKE) build
	$(BUILD)/bin/bench-hotpath

# Trigger to file against LTTng (docs/performance.md); root for LTTng.
bench-trigger:
	@scripts/deps.sh build bench
	$(MAKE) build
	python3 bench/trigger_bench.py --build $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD)
