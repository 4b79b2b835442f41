# apnsd top-level Makefile: thin wrapper around CMake/ctest.
#   make run        install deps, build, run the demo (apns-sim + a batch via the CLI)
#   make test       install deps, build, run the whole test suite
#   make test-sanitize   the same suite under AddressSanitizer + UBSan (CI runs both)
#   make fuzz       build libFuzzer targets with clang (build-fuzz/)
#   make format     clang-format every C file
MAKEFLAGS += --no-print-directory
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-sanitize fuzz format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	@scripts/demo.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600

test-sanitize: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAPNS_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) --timeout 900

fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DAPNS_FUZZ=ON -DAPNS_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS)

format:
	@find include lib sim tools tests daemon -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf build build-asan build-fuzz
