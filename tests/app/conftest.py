"""Application tests run offscreen with their own home folder."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")


@pytest.fixture
def home(tmp_path, monkeypatch):
    from workstation import paths

    folder = tmp_path / "home"
    paths.set_home(folder)
    yield folder
    paths.set_home(None)
