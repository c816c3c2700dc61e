"""The device and precision a run uses: cuda, then mps, then cpu, within what the module allows.

Only modules that declare torch (or monai) in ``requires`` import torch; the others run on the
CPU without it. A device that was asked for but is not usable falls back to the next one, and
the fallback is noted in the result's provenance; a module that requires a GPU fails instead.
Reduced precision is only used where the module lists it as tested.
"""

from __future__ import annotations

from workstation.inference.protocol import WorkerJob

ORDER = ("cuda", "mps", "cpu")
#: Preferred precisions per device, best first (a module's tested list filters them).
PREFERENCE = {
    "cuda": ("float16", "bfloat16", "float32"),
    "mps": ("float16", "float32"),
    "cpu": ("float32", "bfloat16"),
}


class DeviceError(Exception):
    """No device or precision the module allows can be used here."""


def usable_devices() -> dict[str, str | None]:
    """Each device with None when usable, else why not (imports torch)."""
    import torch

    why: dict[str, str | None] = {"cpu": None}
    if torch.cuda.is_available():
        why["cuda"] = None
    elif torch.version.cuda is None:
        why["cuda"] = "this torch is a CPU-only build"
    else:
        why["cuda"] = "no CUDA device or driver"
    mps = getattr(torch.backends, "mps", None)
    why["mps"] = None if mps is not None and mps.is_available() else "no Apple MPS device"
    return why


def choose(job: WorkerJob) -> tuple[str, str, list[str]]:
    """``(device, precision, notes)`` for a job; raises :class:`DeviceError`."""
    notes: list[str] = []
    if not job.uses_torch:
        if job.requires_gpu:
            raise DeviceError("the module requires a GPU but does not declare torch in requires")
        if job.device not in ("auto", "cpu"):
            notes.append(f"{job.device} requested; the module does not use torch: ran on cpu")
        return "cpu", choose_precision(job.precision, job.precisions, "cpu"), notes

    why = usable_devices()
    allowed = [d for d in ORDER if d in job.devices]
    usable = [d for d in allowed if why.get(d) is None]
    if job.device == "auto":
        device = usable[0] if usable else ""
    elif job.device not in job.devices:
        raise DeviceError(
            f"the module does not run on {job.device} (it supports {', '.join(job.devices)})"
        )
    elif why.get(job.device) is None:
        device = job.device
    else:
        device = usable[0] if usable else ""
        if device:
            notes.append(
                f"{job.device} requested but not available ({why[job.device]}); ran on {device}"
            )
    if device == "cuda" and job.min_gpu_memory_mb:
        import torch

        total_mb = torch.cuda.get_device_properties(0).total_memory // 2**20
        if total_mb < job.min_gpu_memory_mb:
            if "cpu" in usable and not job.requires_gpu:
                notes.append(
                    f"the GPU has {total_mb} MiB, the module needs {job.min_gpu_memory_mb}: "
                    "ran on cpu"
                )
                device = "cpu"
            else:
                raise DeviceError(
                    f"the GPU has {total_mb} MiB; the module needs {job.min_gpu_memory_mb} MiB"
                )
    if not device:
        raise DeviceError(f"none of {', '.join(allowed)} is usable here")
    if job.requires_gpu and device == "cpu":
        reasons = "; ".join(f"{d}: {why[d]}" for d in ("cuda", "mps") if why.get(d))
        raise DeviceError(f"the module requires a GPU and none is usable ({reasons})")
    return device, choose_precision(job.precision, job.precisions, device), notes


def choose_precision(requested: str, tested: tuple[str, ...], device: str) -> str:
    if requested != "auto":
        if requested not in tested:
            raise DeviceError(
                f"precision {requested} was not tested by the module (tested: {', '.join(tested)})"
            )
        if requested not in PREFERENCE[device]:
            raise DeviceError(f"precision {requested} is not available on {device}")
        return requested
    for precision in PREFERENCE[device]:
        if precision in tested:
            return precision
    raise DeviceError(f"no precision the module tested runs on {device} ({', '.join(tested)})")
