"""Transfer syntaxes (PS3.5 §10 and Annex A) and what the engine knows about each."""

from __future__ import annotations

from dataclasses import dataclass

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR_LOSSLESS = "1.2.840.10008.1.2.4.81"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
JPEG_2000 = "1.2.840.10008.1.2.4.91"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_LOSSLESS_RPCL = "1.2.840.10008.1.2.4.202"
HTJ2K = "1.2.840.10008.1.2.4.203"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"


@dataclass(frozen=True, slots=True)
class TransferSyntax:
    """How a dataset and its pixels are encoded."""

    uid: str
    name: str
    explicit_vr: bool = True
    little_endian: bool = True
    deflated: bool = False
    encapsulated: bool = False
    lossy: bool = False  # every codestream of this syntax discards information
    codec: str = ""  # "jpeg", "jpeg-ls", "j2k" or "rle" for encapsulated syntaxes

    @property
    def native(self) -> bool:
        """Pixels stored uncompressed, one value after the other."""
        return not self.encapsulated


_KNOWN = (
    TransferSyntax(IMPLICIT_VR_LITTLE_ENDIAN, "Implicit VR Little Endian", explicit_vr=False),
    TransferSyntax(EXPLICIT_VR_LITTLE_ENDIAN, "Explicit VR Little Endian"),
    TransferSyntax(
        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, "Deflated Explicit VR Little Endian", deflated=True
    ),
    TransferSyntax(EXPLICIT_VR_BIG_ENDIAN, "Explicit VR Big Endian", little_endian=False),
    TransferSyntax(
        JPEG_BASELINE, "JPEG Baseline (Process 1)", encapsulated=True, lossy=True, codec="jpeg"
    ),
    TransferSyntax(
        JPEG_EXTENDED, "JPEG Extended (Process 2 & 4)", encapsulated=True, lossy=True, codec="jpeg"
    ),
    TransferSyntax(JPEG_LOSSLESS, "JPEG Lossless (Process 14)", encapsulated=True, codec="jpeg"),
    TransferSyntax(JPEG_LOSSLESS_SV1, "JPEG Lossless SV1", encapsulated=True, codec="jpeg"),
    TransferSyntax(JPEG_LS_LOSSLESS, "JPEG-LS Lossless", encapsulated=True, codec="jpeg-ls"),
    TransferSyntax(
        JPEG_LS_NEAR_LOSSLESS,
        "JPEG-LS Near-Lossless",
        encapsulated=True,
        lossy=True,
        codec="jpeg-ls",
    ),
    TransferSyntax(JPEG_2000_LOSSLESS, "JPEG 2000 Lossless", encapsulated=True, codec="j2k"),
    # 4.91 and HTJ2K may hold reversible codestreams: LossyImageCompression (0028,2110) decides.
    TransferSyntax(JPEG_2000, "JPEG 2000", encapsulated=True, codec="j2k"),
    TransferSyntax(HTJ2K_LOSSLESS, "HTJ2K Lossless", encapsulated=True, codec="j2k"),
    TransferSyntax(HTJ2K_LOSSLESS_RPCL, "HTJ2K Lossless RPCL", encapsulated=True, codec="j2k"),
    TransferSyntax(HTJ2K, "HTJ2K", encapsulated=True, codec="j2k"),
    TransferSyntax(RLE_LOSSLESS, "RLE Lossless", encapsulated=True, codec="rle"),
)

SYNTAXES: dict[str, TransferSyntax] = {ts.uid: ts for ts in _KNOWN}


def lookup(uid: str) -> TransferSyntax | None:
    """The transfer syntax with this UID, or None when the engine cannot decode it."""
    return SYNTAXES.get(uid)
