"""Reading the person's two QR codes from a photo, on the server (zxing-cpp over Pillow).

The photo is read in memory, never stored or logged; only its decoded codes go on, to
:class:`~vault.cross_border.sessions.ViewingSessions` exactly as typed codes would.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import zxingcpp
from PIL import Image, UnidentifiedImageError

from api.problems import Problem

MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded


@dataclass(frozen=True)
class ScannedCodes:
    application_code: str
    passcode: str


def unreadable() -> Problem:
    return Problem(422, "qr_unreadable", "The photo could not be read")


def scanned(photo: bytes) -> ScannedCodes:
    """Both codes from ``photo`` (JPEG, PNG, ...), or :func:`unreadable`."""
    if not photo or len(photo) > MAX_PHOTO_BYTES:
        raise unreadable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(photo))
            if image.width * image.height > MAX_PIXELS:
                raise unreadable()
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise unreadable() from None
    found = [r.text.strip().upper() for r in zxingcpp.read_barcodes(image.convert("L"))]
    application = [t for t in found if t.startswith("CB")]
    second = [t for t in found if t.startswith("PC")]  # the passcode's QR code
    if len(application) != 1 or len(second) != 1:  # a count, not a comparison of codes
        raise unreadable()
    return ScannedCodes(application[0], second[0])
