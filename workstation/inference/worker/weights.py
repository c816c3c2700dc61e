"""Loading weights inside the worker: safetensors only, hash checked on the bytes loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workstation.inference.protocol import WeightsRef
from workstation.inference.weights import WeightsError, sha256_bytes

#: Largest weights file read (the whole file is read, hashed and then parsed).
MAX_WEIGHTS_BYTES = 8 << 30


def read_verified(ref: WeightsRef) -> bytes:
    """The file's bytes, once their SHA-256 is the manifest's (else :class:`WeightsError`)."""
    path = Path(ref.path)
    try:
        if path.stat().st_size > MAX_WEIGHTS_BYTES:
            raise WeightsError(f"weights {ref.name!r}: {path} is larger than 8 GiB")
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"weights {ref.name!r}: cannot read {path}: {exc}") from exc
    actual = sha256_bytes(data)
    if actual != ref.sha256:
        raise WeightsError(
            f"weights sha256 mismatch for {ref.name!r} ({path}): expected {ref.sha256[:12]}…, "
            f"found {actual[:12]}…; refusing to load altered weights"
        )
    return data


def load_torch(ref: WeightsRef, device: str) -> dict[str, Any]:
    """The tensors of a safetensors file on ``device``."""
    from safetensors.torch import load

    tensors: dict[str, Any] = load(read_verified(ref))
    return {name: tensor.to(device) for name, tensor in tensors.items()}


def load_numpy(ref: WeightsRef) -> dict[str, npt.NDArray[np.generic]]:
    from safetensors.numpy import load

    arrays: dict[str, npt.NDArray[np.generic]] = load(read_verified(ref))
    return arrays
