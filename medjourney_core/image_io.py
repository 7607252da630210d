"""Reading radiographs and bringing them to the model's input ranges.

One reader for PNG (8- and 16-bit), JPEG and DICOM:

    image, info = read_image("prior.dcm")     # float32 [H, W] in [0, 1], 0 = black (air)
    x = prepare(image, size=256)              # torch [1, 1, 256, 256] in [0, 1]
    to_vae_range(x)                           # [-1, 1]       (the diffusion VAE's range)
    to_xrv_range(x)                           # [-1024, 1024] (torchxrayvision's range)

`info` holds only non-identifying facts (format, size, bit depth, photometric
interpretation). DICOM header values never leave this module, never reach a log,
and never appear in an error message.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageReadError

# The largest real radiographs are about 4,300 x 4,300 (18 Mpx). Anything beyond this cap
# is refused from its header, before a single pixel is decoded.
MAX_PIXELS = 40_000_000
MAX_FILE_BYTES = 256 * 1024 * 1024
MIN_SIDE = 64

ImageSource = Union[str, os.PathLike, bytes, BinaryIO]


@dataclass(frozen=True)
class ImageInfo:
    """Non-identifying facts about a decoded image."""

    format: str  # "PNG", "JPEG", "DICOM", ...
    width: int
    height: int
    bit_depth: int
    photometric_interpretation: str  # "MONOCHROME1", "MONOCHROME2", "RGB", ...
    inverted: bool  # True when MONOCHROME1 was inverted so that air is dark

    def to_dict(self) -> dict:
        return asdict(self)


def read_image(source: ImageSource) -> tuple[np.ndarray, ImageInfo]:
    """Decode a radiograph to a float32 array [H, W] in [0, 1] with air dark.

    `source` is a path, the file's bytes, or a binary file object. Raises
    ImageReadError with a readable message for anything that is not a usable image.
    """
    data = _read_bytes(source)
    if _looks_like_dicom(data):
        image, info = _read_dicom(data)
    else:
        try:
            image, info = _read_raster(data)
        except ImageReadError as raster_error:
            # DICOM files written without the 128-byte preamble have no "DICM" marker.
            try:
                image, info = _read_dicom(data, force=True)
            except ImageReadError:
                raise raster_error from None
    if min(image.shape) < MIN_SIDE:
        raise ImageReadError(
            f"The image is {image.shape[1]} x {image.shape[0]} pixels; at least {MIN_SIDE} x {MIN_SIDE} is needed."
        )
    return image, info


def _read_bytes(source: ImageSource) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read(MAX_FILE_BYTES + 1)
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageReadError(f"No image file at {path}.")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImageReadError(_too_large_file_message())
        data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise ImageReadError(_too_large_file_message())
    if not data:
        raise ImageReadError("The file is empty.")
    return data


def _too_large_file_message() -> str:
    return f"The file is larger than {MAX_FILE_BYTES // 2**20} MB; a chest radiograph is far smaller."


def _too_many_pixels_message(width: int, height: int) -> str:
    return (
        f"The image claims {width} x {height} pixels, more than the {MAX_PIXELS // 10**6} million allowed; "
        "it was not decoded (possible decompression bomb)."
    )


def _looks_like_dicom(data: bytes) -> bool:
    return len(data) >= 132 and data[128:132] == b"DICM"


# ---------------------------------------------------------------- PNG, JPEG, other rasters


def _read_raster(data: bytes) -> tuple[np.ndarray, ImageInfo]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            pil = Image.open(io.BytesIO(data))
            width, height = pil.size
            if width * height > MAX_PIXELS:
                raise ImageReadError(_too_many_pixels_message(width, height))
            fmt = pil.format or "image"
            pil.load()
            pil = ImageOps.exif_transpose(pil)
        except ImageReadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageReadError("The image has too many pixels; it was not decoded (possible decompression bomb).") from None
        except UnidentifiedImageError:
            raise ImageReadError(
                "The file is not an image that can be read (expected PNG, JPEG or DICOM)."
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise ImageReadError("The image file is truncated or corrupt; please export it again.") from None

    photometric = "RGB" if pil.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr") else "MONOCHROME2"
    if pil.mode in ("I;16", "I;16B", "I;16L", "I"):
        raw = np.asarray(pil).astype(np.float64)
        # 16-bit containers often hold 10-, 12- or 14-bit data: scale by the bits actually used.
        used_bits = int(np.clip(np.ceil(np.log2(max(raw.max(), 1.0) + 1.0)), 8, 16))
        image = raw / (2**used_bits - 1)
        bit_depth = 16
    elif pil.mode == "F":
        raw = np.asarray(pil).astype(np.float64)
        image = _min_max(raw)
        bit_depth = 32
    else:
        if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
            # Transparent pixels carry no X-ray signal: show them as air (black).
            pil = pil.convert("RGBA")
            background = Image.new("RGBA", pil.size, (0, 0, 0, 255))
            pil = Image.alpha_composite(background, pil)
        image = np.asarray(pil.convert("L")).astype(np.float64) / 255.0
        bit_depth = 8
    info = ImageInfo(fmt, image.shape[1], image.shape[0], bit_depth, photometric, inverted=False)
    return np.clip(image, 0.0, 1.0).astype(np.float32), info


# ---------------------------------------------------------------- DICOM


_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian


def _read_dicom(data: bytes, force: bool = False) -> tuple[np.ndarray, ImageInfo]:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    pydicom_logger = logging.getLogger("pydicom")
    previous_level = pydicom_logger.level
    pydicom_logger.setLevel(logging.CRITICAL)  # its messages may quote header values
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(io.BytesIO(data), force=force)
            except Exception:
                raise ImageReadError("The DICOM file is truncated or corrupt; please export it again.") from None
            if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
                if force and "SOPClassUID" not in ds:
                    raise ImageReadError("The file is not an image that can be read (expected PNG, JPEG or DICOM).")
                if _PIXEL_DATA_TAG in data:  # the element starts but the file ends inside it
                    raise ImageReadError("The DICOM file is truncated or corrupt; please export it again.")
                raise ImageReadError("The DICOM file contains no image (no pixel data), e.g. a structured report.")
            rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            samples = int(ds.get("SamplesPerPixel", 1) or 1)
            if rows <= 0 or columns <= 0:
                raise ImageReadError("The DICOM file does not say how large its image is (Rows/Columns missing).")
            if rows * columns * frames * samples > MAX_PIXELS:
                raise ImageReadError(_too_many_pixels_message(columns, rows))
            photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
            _check_decoder(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None))
            try:
                pixels = ds.pixel_array
            except Exception:
                raise ImageReadError("The DICOM pixel data is truncated or corrupt; please export it again.") from None

            if frames > 1:
                pixels = pixels[0]
            if pixels.ndim == 3:  # colour DICOM (pydicom converts YBR to RGB)
                pixels = pixels[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
                values = _min_max(pixels)
                bit_depth = int(ds.get("BitsStored", 8) or 8)
                info = ImageInfo("DICOM", values.shape[1], values.shape[0], bit_depth, photometric, inverted=False)
                return values.astype(np.float32), info

            values = apply_modality_lut(pixels, ds)
            has_voi = "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds)
            if has_voi:
                values = apply_voi_lut(values, ds, index=0)
            values = _min_max(np.asarray(values, dtype=np.float64))
            inverted = photometric == "MONOCHROME1"
            if inverted:
                values = 1.0 - values
            bit_depth = int(ds.get("BitsStored", 16) or 16)
    finally:
        pydicom_logger.setLevel(previous_level)
    info = ImageInfo("DICOM", values.shape[1], values.shape[0], bit_depth, photometric, inverted=inverted)
    return values.astype(np.float32), info


def _check_decoder(syntax) -> None:
    """Refuse, by name, a compression no installed plugin can decode (before trying to)."""
    if syntax is None or not syntax.is_compressed:
        return
    from pydicom.pixels import get_decoder

    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise ImageReadError(
            f"The DICOM image is compressed with {syntax.name}, which cannot be decoded here; "
            "export it uncompressed or as PNG."
        )


def _min_max(values: np.ndarray) -> np.ndarray:
    low, high = float(np.min(values)), float(np.max(values))
    if high <= low:
        return np.zeros_like(values, dtype=np.float64)
    return (values - low) / (high - low)


# ---------------------------------------------------------------- preprocessing and ranges


def prepare(image: np.ndarray | torch.Tensor, size: int = 256) -> torch.Tensor:
    """Center-crop to a square and resize to `size` (antialiased).

    Input: [H, W] (or [1, H, W], [B, 1, H, W]) in [0, 1]. Output: float32 [B, 1, size, size] in [0, 1].
    """
    x = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image, dtype=torch.float32)
    while x.dim() < 4:
        x = x.unsqueeze(0)
    height, width = x.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    x = x[..., top : top + side, left : left + side]
    if side != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size)
    return x.clamp(0.0, 1.0)


def to_vae_range(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1], the range the diffusion autoencoder works in."""
    return x * 2.0 - 1.0


def from_vae_range(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clipped."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def to_xrv_range(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1024, 1024], the range torchxrayvision's models expect."""
    return (x * 2.0 - 1.0) * 1024.0


def to_pil(image: np.ndarray | torch.Tensor) -> Image.Image:
    """A [H, W] (or [1, H, W]) image in [0, 1] as an 8-bit grayscale PIL image."""
    array = image.detach().cpu().float().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    array = np.squeeze(array)
    return Image.fromarray(np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8))
