# The two entry points of the README: `make run` and `make test`.
# Both create or refresh .venv, install the Debian packages the app and its tests use, and
# install torch==2.13.0 as a CPU build where no NVIDIA GPU is present.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_STAMP := $(VENV)/.apt-installed
APT_PACKAGES := orthanc orthanc-dicomweb dcmtk dicom3tools dcm2niix xvfb xauth \
	libosmesa6 libgl1-mesa-dri libegl1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3 \
	libfontconfig1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
	libxcb-render-util0 libxcb-image0 libxcb-randr0 libxcb-xinerama0 libxcb-xkb1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TORCH_INDEX := $(shell command -v nvidia-smi >/dev/null 2>&1 || echo --extra-index-url https://download.pytorch.org/whl/cpu)

export QT_QPA_PLATFORM ?= offscreen
export VTK_DEFAULT_OPENGL_WINDOW ?= vtkOSOpenGLRenderWindow

.PHONY: run test lint unit installer setup clean

run: $(STAMP)
	$(BIN)/workstation --demo

test: $(STAMP) lint unit

lint: $(STAMP)
	$(BIN)/ruff check workstation plugins tests build_installer.py
	$(BIN)/ruff format --check workstation plugins tests build_installer.py
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

unit: $(STAMP)
	$(BIN)/pytest

installer: $(STAMP)
	$(BIN)/python build_installer.py

setup: $(STAMP)

$(APT_STAMP):
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@mkdir -p $(VENV) && touch $@

$(STAMP): pyproject.toml $(APT_STAMP)
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch alone from the CPU index (one try: where that index is unreachable the wheel comes
	# from PyPI or a local wheel house); its own requirements come with the project's below.
	$(BIN)/python -m pip show torch >/dev/null 2>&1 || \
		$(BIN)/python -m pip install -q --no-deps --retries 0 torch==2.13.0 $(TORCH_INDEX)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
