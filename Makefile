# The two commands of the README:
#   make run    build sbx and run a short agent session in a local sandbox
#   make test   build (asan, release, fuzz) and run every test, as CI does
# Both install the Debian packages they need first (apt-get, as root).

DEB_PACKAGES := cmake ninja-build gcc clang-14 libclang-rt-14-dev libc6-dev \
                libuv1-dev libjansson-dev node-llhttp libcmocka-dev libminizip-dev zlib1g-dev \
                libcurl4-openssl-dev libsqlite3-dev libseccomp-dev libarchive-dev \
                python3 python3-pytest tmux util-linux procps git sqlite3
# Baselines of the local-sandbox benchmark (tests/bench/local.sh), installed by `make bench`.
BENCH_PACKAGES := hyperfine bubblewrap
PYTHON := /usr/bin/python3
FUZZ_SECONDS ?= 20

.PHONY: all deps sdk-deps bench-deps build debug asan release fuzz run test checksrc bench install clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" != 0 ]; then echo "make: need root to apt-get install$$missing" >&2; exit 2; fi; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: release

debug asan release: deps
	cmake --preset $@ >/dev/null
	cmake --build --preset $@

fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz

run: release
	build/release/sbx-demo

checksrc:
	tools/checksrc.sh

# The official SDKs and spec validators of tests/sdk (Node.js + npm ci).
sdk-deps:
	tools/sdk-deps.sh

# Unit and black-box tests under ASan+UBSan, then the black-box suite again
# against the static release binary, then a short run of every fuzz target.
test: checksrc sdk-deps asan release fuzz
	ctest --preset asan
	ctest --preset release -R '^integration$$'
	tools/fuzz-smoke.sh build/fuzz $(FUZZ_SECONDS)
	@echo "make test: all suites passed"

bench-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BENCH_PACKAGES)"

bench: release bench-deps sdk-deps
	tests/bench/run.sh build/release/sbx-server
	$(PYTHON) tests/bench/edit_bench.py build/release/sbx-server
	tests/bench/local.sh build/release
	tests/bench/e2b.sh build/release
	node tests/bench/e2b_bench.mjs build/release/sbx

# sbx finds sbx-server next to itself or in ../libexec/sbx/.
PREFIX ?= /usr/local
install: release
	install -D -m 0755 build/release/sbx $(DESTDIR)$(PREFIX)/bin/sbx
	install -D -m 0755 build/release/sbx-server $(DESTDIR)$(PREFIX)/libexec/sbx/sbx-server

clean:
	rm -rf build
