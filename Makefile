# `make run`: set everything up and run the main job.  `make test`: set up and pass the tests.
# One virtual environment, made once and reused while pyproject.toml is unchanged.
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup postgres browser run test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned to the build these machines carry on local disk (any other pin downloads GBs).
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[all,test]'
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
