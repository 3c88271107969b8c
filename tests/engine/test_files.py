"""Content hashes remembered across processes (`files.DIGEST_STAMP`), and what they never
let through."""

from __future__ import annotations

import hashlib
import os

import pytest

from parallax_pipeline.engine import files
from parallax_pipeline.store import ContentStore, DamagedArtifact

needs_xattrs = pytest.mark.skipif(not hasattr(os, "setxattr"), reason="no extended attributes on this platform")


@pytest.fixture
def hashes(monkeypatch):
    """The files hashed from here on (the real hash, counted), as a fresh process that
    has hashed nothing yet sees them."""
    monkeypatch.setattr(files, "_matched", set())
    seen = []
    real = files.file_digest

    def counted(path):
        seen.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(files, "file_digest", counted)
    return seen


def _stored(tmp_path, payload: bytes = b"lossless frames " * 4096):
    store = ContentStore(tmp_path / "store")

    def build(folder):
        (folder / "tail.npy").write_bytes(payload)
        return {}

    artifact = store.put("parallax_clip", "recipe-1", build)
    store.point("parallax_clip", "trip|001", artifact)
    return store, artifact.path("tail.npy"), hashlib.sha256(payload).hexdigest()


@needs_xattrs
def test_an_object_stored_by_one_process_is_read_by_the_next_without_hashing(tmp_path, hashes):
    store, path, digest = _stored(tmp_path)  # hashed once, to name the object
    files._matched.clear()  # another process
    again = ContentStore(tmp_path / "store").load("parallax_clip", "trip|001")
    assert again is not None and again.path("tail.npy") == path
    assert hashes == [], "the stored object was hashed again on reading"
    assert os.getxattr(path, files.DIGEST_STAMP).decode().startswith(digest)


@needs_xattrs
def test_changed_bytes_are_found_damaged_whatever_the_stamp_says(tmp_path, hashes):
    _, path, _ = _stored(tmp_path)
    data = bytearray(path.read_bytes())
    data[100:116] = bytes(b ^ 0x5A for b in data[100:116])
    path.write_bytes(bytes(data))  # same size, a new modification time: the stamp no longer fits
    files._matched.clear()
    with pytest.raises(DamagedArtifact, match="damaged"):
        ContentStore(tmp_path / "store").load("parallax_clip", "trip|001")
    assert hashes == [path.name] and not path.exists()  # hashed, found damaged, dropped


@needs_xattrs
def test_verify_hashes_every_object_even_one_whose_damage_kept_its_size_and_time(tmp_path, hashes):
    _, path, _ = _stored(tmp_path)
    before = os.stat(path)
    data = bytearray(path.read_bytes())
    data[7] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # bit rot leaves the time alone
    assert files.matches_digest(path, path.name.split(".")[0])  # a reader trusts size and time
    problems = ContentStore(tmp_path / "store").verify()
    assert any("damaged" in p for p in problems), problems


def test_a_file_that_changes_while_it_is_hashed_is_not_remembered(tmp_path, hashes):
    path = tmp_path / "segment.mp4"
    path.write_bytes(b"a" * 1000)
    digest = hashlib.sha256(b"a" * 1000).hexdigest()
    hashed = os.stat(path)
    path.write_bytes(b"b" * 1000)
    os.utime(path, ns=(hashed.st_atime_ns, hashed.st_mtime_ns + 1_000_000))
    files.remember_digest(path, digest, hashed=hashed)
    assert not files.matches_digest(path, digest)  # hashed again, and found different
    assert hashes == ["segment.mp4"]


@needs_xattrs
def test_a_cached_segment_marked_as_used_is_not_hashed_again_by_the_next_process(tmp_path, hashes):
    from parallax_pipeline.engine.compose.programme import SegmentCache

    cache = SegmentCache(tmp_path / "segments")
    path = cache.path("ab" * 32)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"an encoded transition")
    cache.seal(path)
    assert cache.get("ab" * 32) == path  # hashed: a stamp from before sealing does not exist
    files._matched.clear()  # the next run's process
    assert cache.get("ab" * 32) == path  # its last use moved its time, and the stamp with it
    assert hashes == [path.name]


@pytest.mark.parametrize("size", [files.DIRECT_MIN_BYTES + 12345, 3 * files.DIGEST_CHUNK])
def test_a_large_file_read_directly_hashes_as_its_bytes(tmp_path, size):
    """Large files are hashed with direct I/O in aligned chunks; the last one is short
    (or, at a whole number of chunks, empty) and the digest is the bytes' own."""
    data = os.urandom(size)
    path = tmp_path / "big.npy"
    path.write_bytes(data)
    assert files.file_digest(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="direct I/O is Linux's")
def test_direct_io_a_file_system_refuses_goes_through_the_page_cache(tmp_path):
    """Direct I/O needs whole blocks: a write of three bytes is refused (EINVAL) where the
    file opened for it, and the file is written through the page cache instead."""
    path = tmp_path / "small.bin"
    with files.DirectFile(path, os.O_WRONLY | os.O_CREAT) as file:
        opened_direct = file.direct
        file.write(b"abc", 0)
        assert not file.direct
    assert path.read_bytes() == b"abc"
    if opened_direct:  # a file system that takes O_DIRECT: aligned reads stay direct
        buffer = files.direct_buffer(files.DIRECT_ALIGN)
        with files.DirectFile(path, os.O_RDONLY) as file:
            assert file.read_into(buffer, 0) == 3 and file.direct
        assert bytes(buffer[:3]) == b"abc"
