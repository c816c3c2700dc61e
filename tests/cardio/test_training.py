"""Training data, a site's NIfTI images, and the training script itself (two steps)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cardio_plugin import train
from cardio_plugin.preprocess import TARGET_SPACING_MM
from cardio_plugin.synth.anatomy import Case, draw_case
from cardio_plugin.synth.render import render
from cardio_plugin.training_data import WINDOW, Samples, augment, case_samples, nifti_samples

from .conftest import WEIGHTS

SEED = 40_000


def _write_acdc_style_pair(folder: Path) -> Case:
    """The ED phase of case :data:`SEED` as an ACDC-style NIfTI pair in ``folder`` (x, y, z;
    labels 1 RV, 2 myocardium, 3 LV)."""
    import nibabel as nib

    case = draw_case(SEED)
    acq = case.acquisition
    rendered = render(case, (acq.ed_index,))
    acdc = np.choose(rendered.labels[0], [0, 3, 2, 1]).astype(np.uint8)  # ours → ACDC values
    affine = np.diag([acq.pixel_spacing, acq.pixel_spacing, acq.slice_spacing, 1.0])
    image = np.transpose(rendered.stored[0], (2, 1, 0)).astype(np.int16)  # [k, j, i] → x, y, z
    folder.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(image, affine), folder / "patient001_frame01.nii.gz")
    nib.save(
        nib.Nifti1Image(np.transpose(acdc, (2, 1, 0)), affine),
        folder / "patient001_frame01_gt.nii.gz",
    )
    return case


@pytest.fixture(scope="module")
def samples() -> Samples:
    return case_samples(SEED)


def test_training_windows_hold_the_heart_at_the_working_pixel_size(samples: Samples) -> None:
    n_slices = draw_case(SEED).acquisition.n_slices
    assert samples.images.shape == (4 * n_slices, WINDOW, WINDOW)
    assert samples.images.dtype == np.float16 and samples.labels.dtype == np.uint8
    assert set(np.unique(samples.labels)) == {0, 1, 2, 3}
    # Most windows are on the heart; images are normalised (99th percentile → 1).
    assert np.mean([(labels > 0).any() for labels in samples.labels]) > 0.6
    assert float(samples.images.min()) >= 0.0 and float(samples.images.max()) <= 3.0


def test_augmentation_keeps_images_and_labels_together(samples: Samples) -> None:
    images = torch.from_numpy(samples.images[:8])
    labels = torch.from_numpy(samples.labels[:8])
    generator = torch.Generator().manual_seed(0)
    x, y = augment(images, labels, 96, generator)
    assert x.shape == (8, 1, 96, 96) and y.shape == (8, 96, 96)
    assert set(torch.unique(y).tolist()) <= {0, 1, 2, 3}
    # Blood pool stays bright after any rotation, scale, gamma and contrast change.
    for image, label in zip(x[:, 0], y, strict=True):
        if (label == 1).sum() > 50 and (label == 2).sum() > 50:
            assert image[label == 1].mean() > image[label == 2].mean()


def test_a_sites_nifti_pairs_become_training_windows(tmp_path: Path, samples: Samples) -> None:
    """ACDC-style files (x, y, z; labels 1 RV, 2 myocardium, 3 LV) read with their order."""
    case = _write_acdc_style_pair(tmp_path)
    acq = case.acquisition
    (pair,) = train.nifti_pairs(tmp_path)
    site = nifti_samples(*pair, label_order=(3, 2, 1))
    assert site.images.shape == (acq.n_slices, WINDOW, WINDOW)
    # Same structures in the same proportions at the same pixel size as the ED images
    # straight from the generator (the first phase of the training windows).
    ratio = (site.labels == 1).sum() / (site.labels == 3).sum()
    direct = samples.labels[: acq.n_slices]
    assert ratio == pytest.approx((direct == 1).sum() / (direct == 3).sum(), rel=0.15)
    scale = TARGET_SPACING_MM**2
    lv_ml = (site.labels == 1).sum() * scale * acq.slice_spacing / 1000
    assert 0.5 * case.heart.edv_ml < lv_ml <= 1.1 * case.heart.edv_ml


def test_the_training_script_runs_records_what_it_did_and_repeats_itself(tmp_path: Path) -> None:
    arguments = [
        *("--cases", "1", "--steps", "2", "--batch", "2"),
        *("--validation-cases", "1", "--validate-every", "2"),
    ]
    for run in ("first", "second"):
        assert train.main(["--out", str(tmp_path / run), *arguments]) == 0
    record = json.loads((tmp_path / "first" / "training.json").read_text())
    assert record["generator_version"] and record["training_seeds"] == [0, 0]
    assert [entry["step"] for entry in record["history"]] == [2]
    from safetensors.torch import load_file

    state = load_file(str(tmp_path / "first" / "unet.safetensors"))
    assert "down.0.conv1.weight" in state and "head.weight" in state
    # Reproducible to the byte: the same run gives the same file, hence the same SHA-256.
    first, second = (
        (tmp_path / run / "unet.safetensors").read_bytes() for run in ("first", "second")
    )
    assert first == second


def test_a_site_fine_tunes_the_shipped_weights_on_its_nifti_images(tmp_path: Path) -> None:
    """``--nifti`` alone (``--cases 0``) from ``--init``: the documented path for real data."""
    from safetensors.torch import load_file

    _write_acdc_style_pair(tmp_path / "site")
    shipped = WEIGHTS / "unet.safetensors"
    code = train.main(
        [
            *("--out", str(tmp_path / "out"), "--cases", "0", "--nifti", str(tmp_path / "site")),
            *("--label-order", "3,2,1", "--init", str(shipped)),
            *("--steps", "2", "--batch", "2", "--validation-cases", "1", "--validate-every", "2"),
        ]
    )
    assert code == 0
    record = json.loads((tmp_path / "out" / "training.json").read_text())
    assert record["nifti_volumes"] == 1 and record["training_seeds"] == []
    assert record["arguments"]["init"] == str(shipped)
    before, after = load_file(str(shipped)), load_file(str(tmp_path / "out" / "unet.safetensors"))
    assert {k: v.shape for k, v in after.items()} == {k: v.shape for k, v in before.items()}
    # Two steps from the shipped weights: changed, but only slightly.
    change = (after["head.weight"] - before["head.weight"]).abs().max().item()
    assert 0.0 < change < 0.1
