"""What a module's function receives (:class:`RunContext`) and returns (:class:`ModuleOutput`).

The run contract::

    def run(context: RunContext) -> ModuleOutput:
        image = context.volume.array            # read-only, in shared memory
        context.progress(0.5, "thresholding")
        ...
        return ModuleOutput(labels=labels, measurements={"bright_volume": 12.5})

``labels`` lies on the input's grid (``[k, j, i]``, or ``[t, k, j, i]`` for a cine) and holds
each segment's position in the manifest's segment list (1, 2, ...; 0 is background).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workstation.core.volume import Volume
from workstation.inference.protocol import WeightsRef
from workstation.inference.results import Curve, Finding
from workstation.inference.worker import weights as weights_io

#: Shortest interval between two progress messages (the last one always goes).
PROGRESS_INTERVAL_S = 0.05


@dataclass
class ModuleOutput:
    """What a module returns.

    Attributes
    ----------
    labels:
        Integer label map on the input grid; value *n* is the manifest's *n*-th segment.
    measurements:
        Values by the manifest's measurement ids, in the declared units.
    measurement_phases:
        For a cine input: the phase each measurement was made on (by id), where it matters.
    findings, curves:
        :class:`~workstation.inference.results.Finding` and
        :class:`~workstation.inference.results.Curve` whose ids the manifest declares.
    """

    labels: npt.NDArray[np.integer] | None = None
    measurements: dict[str, float] = field(default_factory=dict)
    measurement_phases: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)


class RunContext:
    """The run's inputs and services, handed to the module's function.

    Attributes
    ----------
    volume:
        The input :class:`~workstation.core.volume.Volume` (LPS geometry; read-only array).
    inputs:
        The inputs by the manifest's names (``{"image": volume}``).
    parameters:
        The manifest's parameter defaults with this run's overrides.
    device, precision:
        Where and how to compute: "cuda", "mps" or "cpu"; "float32", "float16" or "bfloat16".
    log:
        A logger whose records reach the host (shown in the job's log).
    patient:
        What the series' header says of the patient: ``height_m`` (PatientSize),
        ``weight_kg`` (PatientWeight), ``sex`` (PatientSex), each only when present. Empty when
        the input did not come from DICOM files.
    """

    def __init__(
        self,
        *,
        volume: Volume,
        input_name: str,
        parameters: Mapping[str, Any],
        device: str,
        precision: str,
        segments: tuple[str, ...],
        weights: tuple[WeightsRef, ...],
        log: logging.Logger,
        send_progress: Callable[[float, str], None],
        is_cancelled: Callable[[], bool],
        patient: Mapping[str, Any] | None = None,
    ) -> None:
        self.volume = volume
        self.patient = dict(patient or {})
        self.inputs = {input_name: volume}
        self.parameters = dict(parameters)
        self.device = device
        self.precision = precision
        self.log = log
        self._segments = segments
        self._weights = {ref.name: ref for ref in weights}
        self._send_progress = send_progress
        self._is_cancelled = is_cancelled
        self._last_progress = 0.0

    def progress(self, fraction: float, message: str = "") -> None:
        """Report the fraction done (0..1) and what is happening; cheap to call often."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        moment = time.monotonic()
        if fraction < 1.0 and moment - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = moment
        self._send_progress(fraction, message)

    def cancelled(self) -> bool:
        """Whether the user asked to cancel (the host also stops the worker by itself)."""
        return self._is_cancelled()

    def segment_value(self, segment_id: str) -> int:
        """The label value of a segment id of the manifest."""
        try:
            return self._segments.index(segment_id) + 1
        except ValueError:
            raise KeyError(f"no segment {segment_id!r} in the manifest") from None

    def _ref(self, name: str) -> WeightsRef:
        try:
            return self._weights[name]
        except KeyError:
            known = ", ".join(self._weights) or "none"
            raise KeyError(f"no weights {name!r} in the manifest (declared: {known})") from None

    def weights_path(self, name: str) -> Path:
        return Path(self._ref(name).path)

    def load_weights(self, name: str) -> dict[str, Any]:
        """The tensors of the weights ``name`` on the run's device (torch; hash checked)."""
        return weights_io.load_torch(self._ref(name), self.device)

    def load_weights_numpy(self, name: str) -> dict[str, npt.NDArray[np.generic]]:
        """The arrays of the weights ``name`` as numpy (no torch needed; hash checked)."""
        return weights_io.load_numpy(self._ref(name))

    @property
    def torch_device(self) -> Any:
        import torch

        return torch.device(self.device)

    @property
    def torch_dtype(self) -> Any:
        import torch

        return getattr(torch, self.precision)

    def autocast(self) -> AbstractContextManager[Any]:
        """torch autocast to the run's precision, or nothing at full precision."""
        if self.precision == "float32":
            return nullcontext()
        import torch

        return torch.autocast(device_type=self.device, dtype=self.torch_dtype)
