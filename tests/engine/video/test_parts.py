"""A scene's frames split into lossless head and tail and an H.264 solo segment."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from parallax_pipeline.engine import files
from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.video.codec import VideoSettings, probe, read_frames
from parallax_pipeline.engine.video.concat import audit_decode
from parallax_pipeline.engine.video.lossless import LosslessWriter, read_lossless
from parallax_pipeline.engine.video.parts import HEAD, SOLO, TAIL, SceneParts, ScenePartsWriter

SETTINGS = VideoSettings(64, 36, 24, preset="ultrafast")


def noise_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    """Frames no lossy codec keeps exactly (noise), so exact equality proves losslessness."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (36, 64, 3), dtype=np.uint8) for _ in range(n)]


def test_frames_go_to_their_parts_and_the_shared_ones_stay_exact(tmp_path):
    frames = noise_frames(10)
    parts = SceneParts.in_folder(tmp_path, 10, 3, 2)
    with ScenePartsWriter(parts, SETTINGS) as writer:
        for i, frame in enumerate(frames):
            # RGBA as the renderer hands it over, for the lossless frames too
            writer.write(np.dstack([frame, np.full((36, 64), 255, np.uint8)]) if i % 2 else frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([HEAD, SOLO, TAIL])
    assert np.array_equal(read_lossless(parts.head, 64, 36), np.stack(frames[:3]))
    assert np.array_equal(read_lossless(parts.tail, 64, 36), np.stack(frames[8:]))
    audit = audit_decode(parts.solo)
    assert audit.clean and audit.frames == 5 and audit.keyframes[0] == 0
    assert probe(parts.solo).frames == len(list(read_frames(parts.solo))) == 5


def test_a_scene_without_overlaps_is_one_segment_and_one_shown_alone_has_none(tmp_path):
    whole = SceneParts.whole(tmp_path / "clip.mp4", 4)
    assert (whole.head, whole.tail, whole.solo_frames) == (None, None, 4)
    all_shared = SceneParts.in_folder(tmp_path / "shared", 4, 2, 2)
    assert all_shared.solo is None and not any(all_shared.encoded(i) for i in range(4))
    with ScenePartsWriter(all_shared, SETTINGS) as writer:
        for frame in noise_frames(4):
            writer.write(frame)
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [HEAD, TAIL]


def test_impossible_splits_are_refused():
    with pytest.raises(ValueError, match="cannot share 3 frames with the scene before it and 2"):
        SceneParts(4, 3, 2, None, None, None)
    with pytest.raises(ValueError, match="head part has 2 frames but file None"):
        SceneParts(4, 2, 0, None, None, None)


def test_a_scene_cut_short_leaves_no_file(tmp_path):
    parts = SceneParts.in_folder(tmp_path, 6, 2, 2)
    with pytest.raises(ValueError, match="5 frames written of the scene's 6"):
        with ScenePartsWriter(parts, SETTINGS) as writer:
            for frame in noise_frames(5):
                writer.write(frame)
    assert not list(tmp_path.iterdir())
    with pytest.raises(RuntimeError, match="render failed"):
        with ScenePartsWriter(parts, SETTINGS) as writer:
            writer.write(noise_frames(1)[0])
            raise RuntimeError("render failed")
    assert not list(tmp_path.iterdir())


def test_lossless_files_check_what_they_hold(tmp_path):
    with pytest.raises(ValueError, match="1 frames written of the 2 promised"):
        with LosslessWriter(tmp_path / "short.npy", 2, 64, 36) as writer:
            writer.write(noise_frames(1)[0])
    assert not (tmp_path / "short.npy").exists()
    with LosslessWriter(tmp_path / "ok.npy", 1, 64, 36) as writer:
        with pytest.raises(ValueError, match=r"ok\.npy: frame \(36, 32, 3\)"):
            writer.write(np.zeros((36, 32, 3), np.uint8))
        writer.write(noise_frames(1)[0])
    with pytest.raises(MediaError, match=r"ok\.npy: frames are 64x36, expected 32x18"):
        read_lossless(tmp_path / "ok.npy", 32, 18)
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(MediaError, match=r"bad\.npy: not a lossless frame file"):
        read_lossless(tmp_path / "bad.npy", 64, 36)
    np.save(tmp_path / "floats.npy", np.zeros((1, 36, 64, 3), np.float32))
    with pytest.raises(MediaError, match=r"floats\.npy: holds float32"):
        read_lossless(tmp_path / "floats.npy", 64, 36)


def test_shared_frames_are_made_among_the_solo_ones():
    parts = SceneParts.in_folder(Path("scene"), 20, 3, 4)
    order = parts.making_order()
    assert sorted(order) == list(range(20))
    assert [i for i in order if parts.encoded(i)] == list(range(3, 16))  # the encoder's order
    shared_at = [position for position, i in enumerate(order) if not parts.encoded(i)]
    assert min(b - a for a, b in zip(shared_at, shared_at[1:])) >= 2  # never two in a row
    assert SceneParts.in_folder(Path("scene"), 6, 3, 3).making_order() == list(range(6))


def test_shared_frames_may_be_kept_out_of_order_from_several_threads(tmp_path):
    frames = noise_frames(12, seed=3)
    parts = SceneParts.in_folder(tmp_path, 12, 4, 4)
    with ScenePartsWriter(parts, SETTINGS) as writer, ThreadPoolExecutor(3) as pool:
        shared = [i for i in range(12) if not parts.encoded(i)]
        done = [pool.submit(writer.keep, i, frames[i]) for i in reversed(shared)]
        for i in range(4, 8):
            writer.encode(frames[i])
        for future in done:
            future.result()
        with pytest.raises(ValueError, match="frame 5 of the scene is not shared"):
            writer.keep(5, frames[5])
    assert np.array_equal(read_lossless(parts.head, 64, 36), np.stack(frames[:4]))
    assert np.array_equal(read_lossless(parts.tail, 64, 36), np.stack(frames[8:]))
    assert probe(parts.solo).frames == 4


def test_rgba_frames_with_padded_rows_are_kept_exactly(tmp_path):
    """The renderer hands over RGBA views of a wider buffer (rows strided); the lossless
    file gets their RGB exactly, written in place into the file's pages."""
    frames = noise_frames(3, seed=5)
    with LosslessWriter(tmp_path / "kept.npy", 3, 64, 36) as writer:
        for i in (2, 0, 1):
            buffer = np.zeros((40, 72, 4), np.uint8)  # whole blocks, as `ClipRenderer` makes them
            buffer[:36, :64, :3], buffer[:36, :64, 3] = frames[i], 255
            writer.put(i, buffer[:36, :64])
    assert np.array_equal(read_lossless(tmp_path / "kept.npy", 64, 36), np.stack(frames))



def _resident_pages(path: Path) -> int:
    """Pages of ``path`` in the page cache (Linux ``mincore`` on a mapping of the file)."""
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype, libc.mmap.argtypes = ctypes.c_void_p, (
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
    size = path.stat().st_size
    pages = (ctypes.c_ubyte * -(-size // mmap.PAGESIZE))()
    with open(path, "rb") as handle:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, handle.fileno(), 0)
        try:
            if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), pages) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            libc.munmap(ctypes.c_void_p(address), ctypes.c_size_t(size))
    return sum(page & 1 for page in pages)


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="direct I/O is Linux's")
def test_lossless_frames_go_to_the_disk_and_back_without_the_page_cache(tmp_path):
    """A scene's lossless frames are read once, by another process: they are written and
    read with direct I/O, so none of their pages takes memory in the page cache (on the
    benchmarks' VM each fresh page costs about 9 ms a MB). Frames start on whole blocks,
    and the file is still a ``.npy`` numpy reads."""
    frames = noise_frames(40, seed=7)
    path = tmp_path / "tail.npy"
    with LosslessWriter(path, 40, 64, 36) as writer:
        for i, frame in enumerate(frames):
            writer.put(i, frame)
    assert _resident_pages(path) == 0
    kept = read_lossless(path, 64, 36)
    assert len(kept) == 40 and np.array_equal(kept[39], frames[39]) and np.array_equal(kept[-40], frames[0])
    assert _resident_pages(path) == 0
    records = np.load(path, mmap_mode="r")
    assert records.dtype.itemsize % files.DIRECT_ALIGN == 0 and records.offset == files.DIRECT_ALIGN
    assert np.array_equal(records["frame"], np.stack(frames))


def test_lossless_files_of_the_earlier_layout_are_still_read(tmp_path):
    """Frames back to back after numpy's own header, as stores made before direct I/O
    hold them; a truncated file is named as such."""
    frames = np.stack(noise_frames(5, seed=9))
    np.save(tmp_path / "old.npy", frames)
    kept = read_lossless(tmp_path / "old.npy", 64, 36)
    assert [np.array_equal(kept[k], frames[k]) for k in range(5)] == [True] * 5
    data = (tmp_path / "old.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) - 100])
    with pytest.raises(MediaError, match=r"cut\.npy: shorter than the 5 frames its header promises"):
        read_lossless(tmp_path / "cut.npy", 64, 36)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a tmpfs at /dev/shm")
def test_lossless_files_are_kept_where_direct_io_is_refused():
    """tmpfs refused O_DIRECT before Linux 6.6 (the file then goes through the page
    cache) and takes it since: either way the same bytes come back."""
    import tempfile

    frames = noise_frames(3, seed=11)
    with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:
        path = Path(folder) / "head.npy"
        with LosslessWriter(path, 3, 64, 36) as writer:
            for frame in frames:
                writer.write(frame)
        assert np.array_equal(read_lossless(path, 64, 36), np.stack(frames))
