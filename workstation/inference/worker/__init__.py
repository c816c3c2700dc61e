"""The worker side of the plugin host: what runs inside the worker process only.

Plugin authors import the run contract from here::

    from workstation.inference.worker import Curve, Finding, ModuleOutput, RunContext

The host never imports this package (it may import torch); it starts the worker process through
:mod:`workstation.inference._bootstrap`.
"""

from workstation.inference.results import Curve, Finding
from workstation.inference.worker.context import ModuleOutput, RunContext

__all__ = ["Curve", "Finding", "ModuleOutput", "RunContext"]
