# A thin wrapper over CMake. The two commands of the README:
#   make demo   install missing Debian packages (as root), build, ingest the demo
#               corpus and query it
#   make test   build twice (gcc Release; clang with ASan+UBSan and the fuzzers)
#               and run the whole suite through ctest in both
JOBS ?= $(shell nproc)
KEN_DB ?= .ken/demo.db
export KEN_DB

.PHONY: all build demo test test-release test-san bench clean deps deps-test

all: build

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test
	@# the serve tests' node clients (openai, playwright-core), pinned by the lock file
	@npm ci --prefix tests/node --no-audit --no-fund --loglevel=error >/dev/null

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build -j$(JOBS)

demo: build
	@scripts/demo.sh build/ken

test-release: deps-test
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc >/dev/null
	cmake --build build -j$(JOBS)
	cd build && ctest --output-on-failure -j$(JOBS)

test-san: deps-test
	cmake -S . -B build-san -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	      -DKEN_SANITIZE=ON -DKEN_FUZZ=ON >/dev/null
	cmake --build build-san -j$(JOBS)
	cd build-san && ctest --output-on-failure -j$(JOBS)

test: test-release test-san

bench: build
	@scripts/deps.sh bench
	cmake -S . -B build >/dev/null
	cmake --build build --target benches -j$(JOBS)

clean:
	rm -rf build build-san
