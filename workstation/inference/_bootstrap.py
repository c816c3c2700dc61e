"""The worker process's entry point, kept free of imports so the host can name it cheaply.

The host hands :func:`worker_main` to a ``multiprocessing`` spawn context; only the child
imports the worker package (:mod:`workstation.inference.worker`), which may import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any


def worker_main(conn: Any, cancel_event: Any, crash_path: str, python_paths: list[str]) -> None:
    """Run the worker loop in this (child) process."""
    serve = import_module("workstation.inference.worker.serve")
    serve.serve(conn, cancel_event, crash_path, python_paths)
