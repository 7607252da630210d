import io
import re
import logging
import struct
import zlib

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, HTJ2KLossless, MPEG2MPML, SecondaryCaptureImageStorage, generate_uid

from medjourney_core import ImageReadError, prepare, read_image, to_vae_range, to_xrv_range
from medjourney_core.image_io import MAX_PIXELS, from_vae_range
from tests.conftest import REAL_DICOM, REAL_DICOM_MONO1, REAL_IMAGES, REAL_JPEG, REAL_PNG


@pytest.mark.parametrize("path", REAL_IMAGES, ids=lambda p: p.name)
def test_real_radiographs_decode_to_unit_range(path):
    image, info = read_image(path)
    assert image.dtype == np.float32 and image.ndim == 2
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert image.max() - image.min() > 0.5  # real contrast, not a flat field
    assert (info.height, info.width) == image.shape


def test_real_formats_are_identified():
    assert read_image(REAL_PNG)[1].format == "PNG"
    jpeg, info = read_image(REAL_JPEG)
    assert info.format == "JPEG" and info.photometric_interpretation == "RGB"
    assert jpeg.shape == (885, 1036)  # non-square is kept as is until prepare()
    dicom_info = read_image(REAL_DICOM)[1]
    assert dicom_info.format == "DICOM" and dicom_info.photometric_interpretation == "MONOCHROME2"
    assert not dicom_info.inverted


def test_monochrome1_is_inverted_so_air_is_dark():
    normal, _ = read_image(REAL_DICOM)
    inverted, info = read_image(REAL_DICOM_MONO1)
    assert info.photometric_interpretation == "MONOCHROME1" and info.inverted
    np.testing.assert_allclose(inverted, 1.0 - normal, atol=1e-6)
    # The genuine MONOCHROME2 film shows air (top corner) dark. The fake file holds the same
    # stored pixels with only the tag changed, so honouring the tag must flip it.
    assert normal[:40, :40].mean() < 0.1 and inverted[:40, :40].mean() > 0.9


def test_reader_accepts_bytes_and_file_objects():
    from_path, _ = read_image(REAL_PNG)
    data = REAL_PNG.read_bytes()
    np.testing.assert_array_equal(read_image(data)[0], from_path)
    np.testing.assert_array_equal(read_image(io.BytesIO(data))[0], from_path)


def _png_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def test_sixteen_bit_png_with_twelve_bit_data_uses_its_range():
    ramp = (np.linspace(0, 4095, 128 * 128).reshape(128, 128)).astype(np.uint16)
    image, info = read_image(_png_bytes(Image.fromarray(ramp)))
    assert info.bit_depth == 16
    assert image.max() == pytest.approx(1.0) and image.min() == 0.0
    np.testing.assert_allclose(image, ramp / 4095.0, atol=1e-6)


def test_rgba_and_rgb_become_gray_with_transparency_as_air():
    rgba = np.zeros((80, 80, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = 255
    rgba[:, :40, 3] = 0  # left half transparent
    image, info = read_image(_png_bytes(Image.fromarray(rgba, "RGBA")))
    assert info.photometric_interpretation == "RGB"
    assert image[:, :40].max() == 0.0
    assert image[:, 40:].mean() == pytest.approx(200 / 255, abs=1e-3)


def test_exif_orientation_is_applied():
    pixels = np.zeros((100, 200), np.uint8)
    pixels[:, :20] = 255  # a bright band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    image, info = read_image(buffer.getvalue())
    assert image.shape == (200, 100)
    assert image[:20, :].mean() > 0.9  # the band is now on top


def test_not_an_image():
    with pytest.raises(ImageReadError, match="not an image"):
        read_image(b"FINDINGS: no acute cardiopulmonary process. " * 20)


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ImageReadError, match="empty"):
        read_image(b"")
    with pytest.raises(ImageReadError, match="No image file"):
        read_image(tmp_path / "missing.png")


def test_truncated_png_and_jpeg():
    png = REAL_PNG.read_bytes()
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(png[: len(png) // 2])
    jpeg = REAL_JPEG.read_bytes()
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(jpeg[: len(jpeg) // 3])


def test_truncated_dicom():
    data = REAL_DICOM.read_bytes()
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(data[: len(data) // 2])


def _dicom(tmp_path, transfer_syntax=ExplicitVRLittleEndian, rows=128, columns=128, pixels=True, **extra):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = FileDataset(str(tmp_path / "x.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.PatientName = "SECRET^PATIENT"
    ds.PatientID = "PHI-12345"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for key, value in extra.items():
        setattr(ds, key, value)
    if pixels:
        ds.PixelData = (np.arange(rows * columns, dtype=np.uint16) % 4096).tobytes()
    path = tmp_path / "x.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_modality_and_voi_lut(tmp_path):
    path = _dicom(tmp_path, RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=2000, WindowWidth=2000)
    image, info = read_image(path)
    assert info.bit_depth == 12
    raw = (np.arange(128 * 128) % 4096).reshape(128, 128) * 2.0 - 1000.0
    # Window [1000, 3000] maps to [0, 1]; values outside saturate.
    assert image[raw <= 1000].max() < 0.01
    assert image[raw >= 3000].min() > 0.99
    mid = (raw > 1500) & (raw < 2500)
    np.testing.assert_allclose(image[mid], (raw[mid] - 1000) / 2000, atol=0.01)


def test_dicom_without_pixels(tmp_path):
    with pytest.raises(ImageReadError, match="no image"):
        read_image(_dicom(tmp_path, pixels=False))


@pytest.mark.parametrize("syntax", [HTJ2KLossless, MPEG2MPML], ids=["htj2k", "mpeg2"])
def test_dicom_with_undecodable_transfer_syntax(tmp_path, syntax):
    path = _dicom(tmp_path, transfer_syntax=syntax, pixels=False)
    ds = pydicom.dcmread(path)
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + b"\0" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageReadError, match=re.escape(f"compressed with {syntax.name}, which cannot be decoded")):
        read_image(path)


def test_common_dicom_compressions_have_decoders_installed():
    """PACS exports use these; JPEG Lossless (process 14) and JPEG-LS need pylibjpeg-libjpeg."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, RLELossless

    for syntax in (JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless, RLELossless):
        assert get_decoder(syntax).is_available, syntax.name


def test_image_smaller_than_64_pixels():
    with pytest.raises(ImageReadError, match="at least 64"):
        read_image(_png_bytes(Image.new("L", (63, 200))))


def _bomb_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # A few kilobytes of compressed zeros claiming billions of pixels: must be refused unread.
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100_000)) + chunk(b"IEND", b"")


def test_decompression_bomb_png_is_refused_from_its_header():
    with pytest.raises(ImageReadError, match="decompression bomb"):
        read_image(_bomb_png(60_000, 60_000))
    side = int(MAX_PIXELS**0.5) + 1
    with pytest.raises(ImageReadError, match="decompression bomb"):
        read_image(_bomb_png(side, side))


def test_decompression_bomb_dicom_is_refused_from_its_header(tmp_path):
    path = _dicom(tmp_path, pixels=False, rows=60000, columns=60000)
    ds = pydicom.dcmread(path)
    ds.PixelData = b"\0" * 1024
    ds["PixelData"].VR = "OW"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageReadError, match="decompression bomb"):
        read_image(path)


def test_dicom_header_values_are_never_logged_or_returned(tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    path = _dicom(tmp_path, WindowCenter=2000, WindowWidth=2000)
    _, info = read_image(path)
    with pytest.raises(ImageReadError) as error:
        read_image(_dicom(tmp_path, pixels=False))
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err + str(info.to_dict()) + str(error.value)
    assert "SECRET" not in everything and "PHI-12345" not in everything
    real_id = str(pydicom.dcmread(REAL_DICOM).PatientID)
    _, real_info = read_image(REAL_DICOM)
    assert real_id not in str(real_info.to_dict()) + caplog.text


def test_prepare_center_crops_and_resizes():
    image = np.zeros((300, 500), np.float32)
    image[:, 100:400] = 1.0  # the central square is all ones
    x = prepare(image, size=64)
    assert x.shape == (1, 1, 64, 64) and x.dtype == torch.float32
    assert x.min() > 0.99
    jpeg, _ = read_image(REAL_JPEG)
    assert prepare(jpeg, 256).shape == (1, 1, 256, 256)


def test_range_conversions():
    x = torch.tensor([0.0, 0.5, 1.0])
    assert to_vae_range(x).tolist() == [-1.0, 0.0, 1.0]
    assert to_xrv_range(x).tolist() == [-1024.0, 0.0, 1024.0]
    assert torch.equal(from_vae_range(to_vae_range(x)), x)
