"""``workstation plugins new NAME``: a plugin folder that runs and passes its own test.

The folder holds a manifest with one module (a threshold segmentation on CT reporting the
volume), its Python package, a test that runs the module in the real worker on a synthetic CT,
and a README saying what to change. Point ``WORKSTATION_SITE_PLUGINS`` at the folder's parent
(or copy it into a plugin folder) and ``workstation plugins`` lists it.
"""

from __future__ import annotations

import re
from pathlib import Path

from workstation.core.errors import WorkstationError
from workstation.inference.api import HOST_API_VERSION
from workstation.inference.manifest import parse_manifest


class ScaffoldError(WorkstationError):
    pass


def plugin_id(name: str) -> str:
    """The plugin id for a name: lower case, words joined by hyphens."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    identifier = "-".join(words)
    if not identifier or not identifier[0].isalpha():
        raise ScaffoldError(
            f"{name!r} does not make a plugin id (letters first, then letters, digits)"
        )
    return identifier[:64]


_MANIFEST = """\
# Plugin manifest: see docs/plugins.md for every key (JSON schema:
# resources/plugin-manifest.schema.json). The host reads it without importing any code.
id = "{id}"
name = "{title}"
version = "0.1.0"
host_api = "{api}"
description = "What the plugin does, in one sentence."
authors = [{{ name = "Your name", email = "you@example.org" }}]

[[modules]]
id = "{id}"
name = "{title}"
description = "Segments voxels above a threshold and reports their volume."
intended_use = "Research only. Not for clinical use."
python_name = "{package}.module:run"
requires = ["numpy", "SimpleITK"]
parameters = {{ threshold_hu = 300.0 }}

[[modules.inputs]]
modality = ["CT"]
series_kind = ["ct"]
min_slices = 3

[[modules.outputs.segments]]
id = "region"
label = "Region above threshold"
code = {{ value = "85756007", scheme = "SCT", meaning = "Tissue" }}

[[modules.outputs.measurements]]
id = "region_volume"
name = "Volume of the region"
code = {{ value = "118565006", scheme = "SCT", meaning = "Volume" }}
unit = "ml"
segment = "region"

[modules.limits]
time_s = 300
memory_mb = 4096
"""

_MODULE = '''\
"""The module's code: runs inside the workstation's worker process."""

from __future__ import annotations

import numpy as np

from workstation.inference import helpers
from workstation.inference.worker import ModuleOutput, RunContext


def run(context: RunContext) -> ModuleOutput:
    image = context.volume.array  # [k, j, i], read-only, Hounsfield units for CT
    context.progress(0.2, "thresholding")
    mask = helpers.largest_component(image > float(context.parameters["threshold_hu"]))
    labels = np.where(mask, context.segment_value("region"), 0).astype(np.uint8)
    context.progress(0.9, "measuring")
    return ModuleOutput(
        labels=labels,
        measurements={{"region_volume": helpers.volume_ml(mask, context.volume.affine)}},
    )
'''

_CONFTEST = '''\
"""Fixtures of the workstation for testing modules (real worker, synthetic data)."""

from workstation.inference.testing import module_runner, synthetic_ct  # noqa: F401
'''

_TEST = '''\
"""The module finds the bright box of a synthetic CT and measures its volume."""

from pathlib import Path

import numpy as np
import pytest

PLUGIN = Path(__file__).resolve().parents[1]


def test_region_volume(module_runner, synthetic_ct) -> None:
    result = module_runner(PLUGIN, "{id}", synthetic_ct.volume)
    assert result.measurement("region_volume").value == pytest.approx(synthetic_ct.truth_ml)
    assert result.measurement("region_volume").unit == "ml"
    assert np.array_equal(result.labels.array > 0, synthetic_ct.truth)
'''

_README = """\
# {title}

A workstation plugin. Edit `plugin.toml` (what the module takes and reports) and
`{package}/module.py` (the `run(context)` function), then run its test:

    python -m pytest {folder}

Make the workstation find it by pointing `WORKSTATION_SITE_PLUGINS` at the folder above this
one, or by copying this folder into a plugin folder; `workstation plugins` lists it and tells
why it cannot run if something is missing. The guide is docs/plugins.md of the workstation.
"""


def create_plugin(name: str, directory: Path) -> Path:
    """Write a new plugin folder ``directory/<id>`` and return it."""
    identifier = plugin_id(name)
    package = identifier.replace("-", "_") + "_plugin"
    title = name.strip()[:64] or identifier
    root = directory / identifier
    if root.exists() and any(root.iterdir()):
        raise ScaffoldError(f"{root} exists and is not empty")
    values = {
        "id": identifier,
        "title": title.replace('"', "'"),
        "api": HOST_API_VERSION,
        "package": package,
        "folder": identifier,
    }
    manifest = _MANIFEST.format(**values)
    parse_manifest(manifest, "the generated plugin.toml")  # never write a broken one
    files = {
        "plugin.toml": manifest,
        f"{package}/__init__.py": f'"""{title}: a workstation plugin."""\n',
        f"{package}/module.py": _MODULE.format(**values),
        "conftest.py": _CONFTEST,
        f"tests/test_{package}.py": _TEST.format(**values),
        "README.md": _README.format(**values),
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
