"""A corpus of awkward input files of our own making: every one is read correctly or
refused with a MediaError that names the file, never another exception."""

from __future__ import annotations

import io
import struct
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from parallax_pipeline.engine.audio.codec import decode_audio
from parallax_pipeline.engine.depth.maps import read_depth_file
from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.parallax.images import load_image

RNG = np.random.default_rng(7)
PICTURE = RNG.integers(0, 255, (36, 48, 3), np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _encoded(fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(PICTURE).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _image_corpus() -> dict[str, tuple[bytes, bool]]:
    """name -> (bytes, readable)."""
    png, jpeg = _encoded("PNG"), _encoded("JPEG", quality=90)
    cmyk = io.BytesIO()
    Image.fromarray(PICTURE).convert("CMYK").save(cmyk, format="JPEG")
    la = io.BytesIO()
    Image.fromarray(PICTURE[:, :, 0]).convert("LA").save(la, format="PNG")
    sixteen = io.BytesIO()
    Image.fromarray((PICTURE[:, :, 0].astype(np.uint16) * 257)).save(sixteen, format="PNG")
    huge = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0))
    return {
        "plain.png": (png, True),
        "photo.jpg": (jpeg, True),
        "cmyk.jpg": (cmyk.getvalue(), True),
        "grey-alpha.png": (la.getvalue(), True),
        "sixteen-bit.png": (sixteen.getvalue(), True),
        "animation.gif": (_encoded("GIF", save_all=True, append_images=[Image.fromarray(255 - PICTURE)]), True),
        "targa.tga": (_encoded("TGA"), True),
        "portable.ppm": (_encoded("PPM"), True),
        "modern.webp": (_encoded("WEBP"), True),
        "ünïcödé name with spaces.png": (png, True),
        "empty.png": (b"", False),
        "text.jpg": (b"this is not a jpeg at all, just words", False),
        "truncated.png": (png[: len(png) // 3], False),
        "truncated.jpg": (jpeg[:200], False),
        "bad-crc.png": (png[:29] + b"\0\0\0\0" + png[33:], None),  # libpng may or may not shrug it off
        "huge-header.png": (huge, False),
        "only-magic.png": (b"\x89PNG\r\n\x1a\n", False),
        "no-extension": (png, True),
        "wrong-extension.jpg": (png, True),
    }


def _read_or_refuse(reader, folder: Path, name: str, data: bytes, readable: bool | None):
    """What ``reader`` makes of the file, or None when it refused it with a MediaError
    naming the file; ``readable`` None: either is fine."""
    path = folder / name
    path.write_bytes(data)
    try:
        made = reader(path)
    except MediaError as error:
        assert readable is not True, f"{name} should be read: {error}"
        assert str(error).startswith(str(path)), error
        return None
    assert readable is not False, f"{name} should be refused"
    return made


@pytest.mark.parametrize("name", sorted(_image_corpus()))
def test_awkward_pictures(tmp_path: Path, name: str) -> None:
    image = _read_or_refuse(load_image, tmp_path, name, *_image_corpus()[name])
    if image is None:
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.shape[:2] == (36, 48)


def _wav(samples: np.ndarray, rate: int = 48000, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes((samples * 32000).astype("<i2").tobytes())
    return buffer.getvalue()


def _audio_corpus() -> dict[str, tuple[bytes, bool]]:
    tone = np.sin(np.arange(4800) / 48000 * 2 * np.pi * 440)
    good = _wav(tone)
    lying_header = bytearray(good)
    lying_header[40:44] = struct.pack("<I", 0x7FFFFFF0)  # data chunk claims 2 GB
    return {
        "tone.wav": (good, True),
        "odd-rate.wav": (_wav(tone, rate=11025), True),
        "empty.wav": (b"", False),
        "text.mp3": (b"ID3 but then nothing that decodes " * 4, False),
        "header-only.wav": (good[:44], False),
        "lying-header.wav": (bytes(lying_header), True),  # FFmpeg reads what is there
        "truncated.wav": (good[: len(good) // 2], True),
        "noise.flac": (RNG.integers(0, 255, 4000, np.uint8).tobytes(), False),
    }


@pytest.mark.parametrize("name", sorted(_audio_corpus()))
def test_awkward_audio(tmp_path: Path, name: str) -> None:
    samples = _read_or_refuse(decode_audio, tmp_path, name, *_audio_corpus()[name])
    if samples is None:
        return
    assert samples.dtype == np.float32 and samples.shape[0] == 2 and samples.shape[1] > 0


@pytest.mark.parametrize(
    "name,data",
    [
        ("empty.npy", b""),
        ("pickle.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (2,), }" + b" " * 60 + b"\n"),
        ("text.png", b"not a png"),
        ("random.npy", RNG.integers(0, 255, 300, np.uint8).tobytes()),
    ],
)
def test_awkward_depth_files_are_refused_naming_them(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(MediaError) as error:
        read_depth_file(path)
    assert str(path) in str(error.value)
