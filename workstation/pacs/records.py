"""What the study browser reads from the database: studies with their series and thumbnails."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """An 8-bit grey preview, ``height`` rows of ``width`` bytes (0 black, 255 white)."""

    width: int
    height: int
    pixels: bytes

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"thumbnail size must be positive, got {self.width}×{self.height}")
        if len(self.pixels) != self.width * self.height:
            raise ValueError(
                f"thumbnail of {self.width}×{self.height} needs {self.width * self.height} "
                f"bytes, got {len(self.pixels)}"
            )

    def array(self) -> npt.NDArray[np.uint8]:
        """The pixels as a read-only ``[rows, columns]`` array (a view, no copy)."""
        return np.frombuffer(self.pixels, dtype=np.uint8).reshape(self.height, self.width)


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    series_instance_uid: str
    study_instance_uid: str
    modality: str
    series_description: str
    series_number: int | None
    frame_of_reference_uid: str
    n_instances: int
    thumbnail: Thumbnail | None


@dataclass(frozen=True, slots=True)
class StudyRecord:
    study_instance_uid: str
    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str
    study_date: str
    study_time: str
    study_description: str
    accession_number: str
    series: tuple[SeriesRecord, ...]

    @property
    def n_instances(self) -> int:
        return sum(s.n_instances for s in self.series)

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities in the study, sorted, each once (ModalitiesInStudy)."""
        return tuple(sorted({s.modality for s in self.series if s.modality}))
