# apnsd top-level Makefile: thin wrapper around CMake/ctest.
#   make run        install deps, build, run the demo (apns-sim + a batch via the CLI)
#   make test       install deps, build, run the whole test suite
#   make test-sanitize   the same suite under AddressSanitizer + UBSan (CI runs both)
#   make fuzz       build libFuzzer targets with clang (build-fuzz/)
#   make install    build and install under PREFIX (default /usr/local; DESTDIR honoured)
#   make deb        build the Debian packages apnsd, libapns0, libapns-dev (into build-deb/)
#   make format     clang-format every C file
MAKEFLAGS += --no-print-directory
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
PREFIX ?= /usr/local

.PHONY: all deps deps-demo deps-test build run test test-sanitize fuzz install deb format clean

all: build

# Build dependencies only; the test peers (cmocka, nats-server, nghttp2,
# python3-h2, clang, ...) come with `make test`.
deps:
	@scripts/install-deps.sh build

deps-demo:
	@scripts/install-deps.sh demo

deps-test:
	@scripts/install-deps.sh build test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: deps-demo build
	@scripts/demo.sh $(BUILD)

install: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) \
	  $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@cmake --install $(BUILD)

# debian/: dpkg-buildpackage with debhelper, without the test suite (nocheck);
# the packages land in build-deb/.
deb:
	@scripts/install-deps.sh build deb
	@scripts/build-deb.sh build-deb

test: deps-test
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600

test-sanitize: deps-test
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAPNS_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) --timeout 900

fuzz: deps-test
	@CC=clang cmake -S . -B build-fuzz -DAPNS_FUZZ=ON -DAPNS_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS)

format:
	@find include lib sim tools tests daemon -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf build build-asan build-fuzz build-deb
