"""The cardio module in the real worker process: weights, segmentation, measurements, refusal."""

from __future__ import annotations

import hashlib
import json
import tomllib

import numpy as np
import pytest
from cardio_plugin import network

from workstation.core.volume import StackKind, Volume
from workstation.inference.jobs import Job, JobFailed

from .conftest import PLUGIN, WEIGHTS


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_weights_hash_matches_the_manifest_and_the_model_card() -> None:
    digest = hashlib.sha256((WEIGHTS / "unet.safetensors").read_bytes()).hexdigest()
    manifest = tomllib.loads((PLUGIN / "plugin.toml").read_text())
    (entry,) = manifest["modules"][0]["weights"]
    assert entry["path"] == "cardio/unet.safetensors"
    assert entry["sha256"] == digest
    card = json.loads((WEIGHTS / "metadata.json").read_text())
    assert card["sha256"] == digest
    assert card["not_for_clinical_use"] is True
    assert card["version"] == manifest["version"]
    # The card's figures are those of the committed evaluation of these weights.
    evaluation = json.loads((WEIGHTS / "evaluation.json").read_text())
    assert evaluation["weights_sha256"] == digest
    assert card["eval_metrics"]["lv_dice_ed_es"] == pytest.approx(
        (evaluation["summary"]["dice_lv_ed"] + evaluation["summary"]["dice_lv_es"]) / 2, abs=1e-3
    )
    # Small, as the issue asks: a few MB.
    assert (WEIGHTS / "unet.safetensors").stat().st_size < 8_000_000


def test_the_weights_fit_the_network() -> None:
    from safetensors.torch import load_file

    state = load_file(str(WEIGHTS / "unet.safetensors"))
    model = network.build(state)
    assert network.architecture(state)["base"] == network.BASE_CHANNELS
    assert network.parameter_count(model) == network.describe()["parameters"]


def test_the_module_is_available_with_its_model_card(registry) -> None:  # type: ignore[no-untyped-def]
    module = registry.find_module("cardio")
    assert module.available, module.unavailable_reasons
    assert module.warnings == []


def test_segments_and_measures_a_generated_cine(registry, pool, sax_case) -> None:  # type: ignore[no-untyped-def]
    volume = sax_case.volume
    result = Job(registry.find_module("cardio"), volume, device="cpu", pool=pool).run()
    truth = sax_case.truth
    labels = result.labels.array
    assert labels.shape == volume.array.shape and labels.dtype == np.uint8
    for phase in (truth.ed_phase, truth.es_phase):
        assert _dice(labels[phase] == 1, truth.labels[phase] == 1) > 0.9
        assert _dice(labels[phase] == 2, truth.labels[phase] == 2) > 0.8
        assert _dice(labels[phase] == 3, truth.labels[phase] == 3) > 0.8
    # Every phase is segmented, so the overlay follows the cine.
    assert all(labels[t].any() for t in range(labels.shape[0]))

    values = result.values
    reference = truth.measured
    assert values["lv_ef_percent"] == pytest.approx(reference["lv_ef_percent"], abs=5.0)
    assert values["lv_edv_ml"] == pytest.approx(reference["lv_edv_ml"], rel=0.08)
    assert values["lv_mass_g"] == pytest.approx(reference["lv_mass_g"], rel=0.15)
    assert values["rv_edv_ml"] == pytest.approx(reference["rv_edv_ml"], rel=0.12)
    n_phases = volume.array.shape[0]
    assert (
        min(
            abs(values["ed_phase"] - truth.ed_phase),
            n_phases - abs(values["ed_phase"] - truth.ed_phase),
        )
        <= 1
    )
    assert abs(values["es_phase"] - truth.es_phase) <= 1
    # Measurements are consistent with each other and with their phases.
    assert values["lv_sv_ml"] == pytest.approx(values["lv_edv_ml"] - values["lv_esv_ml"])
    assert result.measurement("lv_edv_ml").phase == int(values["ed_phase"])
    assert result.measurement("lv_esv_ml").phase == int(values["es_phase"])
    assert result.measurement("lv_ef_percent").unit == "%"
    assert result.measurement("lv_ef_percent").code == (
        "8811-2",
        "LN",
        "Left ventricular ejection fraction by MR",
    )
    # A Volume without DICOM headers: no height and weight, so nothing is indexed.
    assert "bsa_m2" not in values and "lv_edv_index_ml_m2" not in values

    curves = {curve.id: curve for curve in result.curves}
    assert set(curves) == {"lv_volume_curve", "rv_volume_curve"}
    lv = curves["lv_volume_curve"]
    assert lv.x == pytest.approx(volume.phase_times_ms)
    assert (lv.x_unit, lv.y_unit) == ("ms", "ml")
    assert max(lv.y) == pytest.approx(values["lv_edv_ml"])
    assert min(lv.y) == pytest.approx(values["lv_esv_ml"])
    # ED and ES are named on both plots, at their trigger times.
    ed, es = int(values["ed_phase"]), int(values["es_phase"])
    expected = [(volume.phase_times_ms[ed], "ED"), (volume.phase_times_ms[es], "ES")]
    for curve in curves.values():
        assert [(pytest.approx(x), label) for x, label in curve.marks] == expected


def test_patient_facts_give_indexed_values(registry, pool, sax_case) -> None:  # type: ignore[no-untyped-def]
    case = sax_case.case
    patient = {"height_m": round(case.height_m, 2), "weight_kg": round(case.weight_kg, 1)}
    result = Job(
        registry.find_module("cardio"), sax_case.volume, device="cpu", pool=pool, patient=patient
    ).run()
    values = result.values
    bsa = np.sqrt(patient["height_m"] * 100 * patient["weight_kg"] / 3600)
    assert values["bsa_m2"] == pytest.approx(bsa)
    assert values["lv_edv_index_ml_m2"] == pytest.approx(values["lv_edv_ml"] / bsa)
    assert values["lv_mass_index_g_m2"] == pytest.approx(values["lv_mass_g"] / bsa)


def test_refuses_a_cine_without_trigger_times(registry, pool, sax_case) -> None:  # type: ignore[no-untyped-def]
    volume = sax_case.volume
    untimed = Volume(volume.array, volume.affine, kind=StackKind.CINE, phase_times_ms=None)
    with pytest.raises(JobFailed) as failed:
        Job(registry.find_module("cardio"), untimed, device="cpu", pool=pool).run()
    assert "NotCineShortAxisError" in failed.value.failure.reason
    assert "no trigger times" in failed.value.failure.reason


def test_refuses_slices_too_far_apart(registry, pool, sax_case) -> None:  # type: ignore[no-untyped-def]
    volume = sax_case.volume
    affine = volume.affine.copy()
    affine[:3, 2] *= 30.0 / np.linalg.norm(affine[:3, 2])
    sparse = Volume(volume.array, affine, kind=StackKind.CINE, phase_times_ms=volume.phase_times_ms)
    with pytest.raises(JobFailed) as failed:
        Job(registry.find_module("cardio"), sparse, device="cpu", pool=pool).run()
    assert "30.0 mm apart" in failed.value.failure.reason
