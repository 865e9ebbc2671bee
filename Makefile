# `make run`: set everything up and run the main job.  `make test`: set up and pass the tests.
# One virtual environment, made once and reused while pyproject.toml is unchanged.
VENV   ?= .venv
# dlib is compiled for this machine's processor (built where it runs: AVX2/AVX-512 where there are)
DLIB_CXXFLAGS ?= -march=native
PYTHON ?= python3
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup toolchain postgres browser run test bench clean

# dlib (the photo checks' face detector and descriptor) has no wheel with BLAS: pip builds it from its
# source, against OpenBLAS when its headers are there (the descriptor 5x faster; bench/RESULTS.md).
toolchain:
	@{ command -v g++ >/dev/null 2>&1 && ls /usr/lib/*/libopenblas.so /usr/lib*/libopenblas.so 2>/dev/null | grep -q .; } || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ make libopenblas-dev >/dev/null)

$(STAMP): pyproject.toml | toolchain
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned to the build these machines carry on local disk (any other pin downloads GBs).
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip uninstall -q -y dlib-bin 2>/dev/null || true  # the wheel without BLAS, of venvs made before
	CXXFLAGS="$(DLIB_CXXFLAGS)" $(BIN)/python -m pip install -q -e '.[all,test]'
	touch $(STAMP)

setup: $(STAMP)

# The queue and credit tests also run against a real PostgreSQL server (started by the tests).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

# The gallery's browser test drives Debian's Chromium headless (tests/web/test_browser.py).
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null)

run: setup
	$(BIN)/studio run

test: setup postgres browser
	STUDIO_TEST_REQUIRE_POSTGRES=1 STUDIO_TEST_REQUIRE_BROWSER=1 $(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m bench.intake
	$(BIN)/python -m bench.queue

clean:
	rm -rf $(VENV) data .pytest_cache
