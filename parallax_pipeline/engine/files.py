"""Files on disk: atomic writes, content hashes and input checks.

The one home of write-then-rename in the project: every file that another process (or
a later run) may read is written to a hidden temp file in its own folder and renamed
over the target only when complete, so a crash never leaves half a file under a
finished name. No PyAV, torch or Dagster here: the projects sensor imports this module
(through `recipes`) on every tick.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import mmap
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from parallax_pipeline.engine.errors import MediaError


def temp_path(path: Path) -> Path:
    """A fresh hidden temp name next to ``path`` that keeps its extension:
    ``.name.tmp-<pid>-<random>.mp4``.

    The extension stays last because FFmpeg picks a container format from it; the pid
    says which process left a temp behind, the random part keeps two writers of the same
    target (processes or threads) apart."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


class AtomicFile:
    """A file written under a temp name next to ``path`` (`temp_path`) and renamed onto
    ``path`` by `commit`, or deleted by `discard`: for writers that cannot be one
    ``with`` block (a video encoder opened in ``__enter__``, finished in ``__exit__``).

    The temp lives in the target's folder so ``os.replace`` is an atomic rename on one
    filesystem."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_path(self.path)

    def commit(self) -> Path:
        """Flush the temp file to disk, rename it onto the target, and flush the folder,
        so after a power cut the target is the old file or the whole new one, never a
        renamed empty file."""
        with open(self.tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.tmp, self.path)
        sync_folder(self.path.parent)
        return self.path

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot
    be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the file itself was flushed
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temp path next to ``path``; rename it onto ``path`` if the block succeeds.
    On any exception the temp is removed and the target left as it was."""
    output = AtomicFile(path)
    try:
        yield output.tmp
        output.commit()
    except BaseException:
        output.discard()
        raise


_TEMP_NAME = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+(\.[^.]*)?$")


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a temp file's writer, say)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    # a process that has ended but not been waited for (its parent died first, and the
    # one that inherits it has not reaped it yet) still answers signal 0
    return process_stat(pid)[:1] != ["Z"]


def process_stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first, the start
    time at index 19); empty where there is no such file (no /proc, or no process)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def sweep_temp_files(folder: Path) -> list[Path]:
    """Remove the temp files (`temp_path` names) in ``folder`` whose writing process is
    gone: what a killed process left behind. Files of live processes are kept."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match and entry.is_file() and not process_alive(int(match.group(1))):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see `atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def copy_atomic(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` atomically; return ``target``."""
    with atomic_output(target) as tmp:
        shutil.copyfile(source, tmp)
    return Path(target)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, the content key of stored artifacts and cached segments.
    A large file is read with direct I/O (`DirectFile`): hashing it takes no page cache."""
    if os.path.getsize(path) < DIRECT_MIN_BYTES:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    digest = hashlib.sha256()
    buffer = direct_buffer(DIGEST_CHUNK)
    with DirectFile(path, os.O_RDONLY) as file:
        offset = 0
        while count := file.read_into(buffer, offset):
            digest.update(memoryview(buffer)[:count])
            offset += count
    return digest.hexdigest()


# ---- direct I/O ---------------------------------------------------------------------

DIRECT_ALIGN = 4096
"""Offsets, lengths and buffer addresses of direct I/O are multiples of this: the page,
which every Linux disk and file system that takes direct I/O accepts."""
DIRECT_MIN_BYTES = 8 * 1024 * 1024
"""Files from this size on are hashed with direct I/O."""
DIGEST_CHUNK = 8 * 1024 * 1024
"""Bytes read at a time while hashing."""

_buffers = threading.local()


def direct_buffer(nbytes: int) -> mmap.mmap:
    """This thread's page-aligned scratch buffer, at least ``nbytes`` long (whole
    `DIRECT_ALIGN` blocks). The same memory each time, while it is large enough: a
    buffer used again costs no page faults. Valid until this thread's next call."""
    buffer = getattr(_buffers, "buffer", None)
    if buffer is None or len(buffer) < nbytes:
        buffer = _buffers.buffer = mmap.mmap(-1, max(DIRECT_ALIGN, -(-nbytes // DIRECT_ALIGN) * DIRECT_ALIGN))
    return buffer


class DirectFile:
    """A file read or written with direct I/O (``O_DIRECT``): bytes go between the disk
    and the caller's buffer without passing through the page cache.

    Why: the big files a scene makes (its lossless frames, 6.2 MB a 1080p frame) are read
    once, by another process, and the page cache would hold each of their pages in fresh
    memory. On the 2-core VM the benchmarks run on fresh memory costs about 9 ms a MB (its
    hypervisor takes freed memory back): writing 48 lossless 1080p frames (300 MB) took
    1.9 to 3.2 s of the kernel's time through the page cache, 0.01 s direct.

    Offsets, lengths and buffers must be `DIRECT_ALIGN`-aligned (`direct_buffer` gives
    such buffers). Where the platform or file system does not take direct I/O, the file
    is used through the page cache instead, unchanged otherwise. Use as a context manager.
    """

    def __init__(self, path: Path, flags: int, mode: int = 0o644):
        self.path, self._flags, self._mode = Path(path), flags, mode
        self.direct = bool(getattr(os, "O_DIRECT", 0))
        self._fd = -1
        if self.direct:
            try:
                self._fd = os.open(self.path, flags | os.O_DIRECT, mode)
            except OSError as err:
                if err.errno != errno.EINVAL:
                    raise
                self.direct = False
        if not self.direct:
            self._fd = os.open(self.path, flags, mode)

    def __enter__(self) -> DirectFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def read_into(self, buffer, offset: int) -> int:
        """Read from ``offset`` into ``buffer`` (up to its length); bytes read (0 at the end)."""
        return self._retry(lambda: os.preadv(self._fd, [buffer], offset))

    def write(self, data, offset: int) -> None:
        """Write all of ``data`` at ``offset``."""
        view = memoryview(data).cast("B")
        while view:
            written = self._retry(lambda: os.pwrite(self._fd, view, offset))
            view, offset = view[written:], offset + written

    def _retry(self, call: Callable[[], int]) -> int:
        # a file system may take O_DIRECT when opening and refuse it for I/O (EINVAL): the
        # page cache then
        try:
            return call()
        except OSError as err:
            if err.errno != errno.EINVAL or not self.direct:
                raise
        os.close(self._fd)
        self._fd = os.open(self.path, self._flags & ~(os.O_CREAT | os.O_TRUNC | os.O_EXCL), self._mode)
        self.direct = False
        return call()


# (path, size, mtime_ns, digest) of files whose bytes matched a digest in this process
_matched: set[tuple[str, int, int, str]] = set()

DIGEST_STAMP = "user.parallax.sha256"
"""Extended attribute on a file whose bytes were found to hash to a digest: the digest,
size and modification time then (``<digest> <size> <mtime_ns>``). Another process that
reads the file while its size and time are unchanged trusts the stamp instead of hashing
it again (a film's composition reads gigabytes of its clips' lossless frames). Where
the file system keeps no extended attributes, every process hashes."""


def _stamp(digest: str, stat: os.stat_result) -> bytes:
    return f"{digest} {stat.st_size} {stat.st_mtime_ns}".encode()


def _stamped(path: Path, digest: str, stat: os.stat_result) -> bool:
    try:
        return os.getxattr(path, DIGEST_STAMP) == _stamp(digest, stat)
    except (AttributeError, OSError):  # no xattrs here (or none set)
        return False


def remember_digest(path: Path, digest: str, hashed: os.stat_result | None = None) -> None:
    """Record that ``path``'s bytes hash to ``digest`` (SHA-256 hex) as they are now, for
    this process and, through `DIGEST_STAMP`, for later ones: call it only right after
    hashing those very bytes (``hashed``: the file's stat taken before hashing; nothing
    is recorded if the file changed since)."""
    stat = os.stat(path)
    if hashed is not None and (hashed.st_size, hashed.st_mtime_ns) != (stat.st_size, stat.st_mtime_ns):
        return
    _matched.add((str(path), stat.st_size, stat.st_mtime_ns, digest))
    try:
        os.setxattr(path, DIGEST_STAMP, _stamp(digest, stat))  # changes ctime, not mtime
    except (AttributeError, OSError):
        pass


def matches_digest(path: Path, digest: str, thorough: bool = False) -> bool:
    """Whether a file's bytes hash to ``digest`` (SHA-256 hex). Once they did, reading
    the same file again while its size and time are unchanged costs a ``stat`` (and in
    another process a stamp, `DIGEST_STAMP`); ``thorough`` hashes the bytes regardless
    (an integrity check that must not trust what a file says of itself)."""
    try:
        stat = os.stat(path)
    except OSError:
        return False
    key = (str(path), stat.st_size, stat.st_mtime_ns, digest)
    if not thorough and (key in _matched or _stamped(path, digest, stat)):
        _matched.add(key)
        return True
    if file_digest(path) != digest:
        return False
    remember_digest(path, digest, hashed=stat)
    return True


@contextmanager
def exclusive_lock(path: Path, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if need be) for the block; the kernel
    releases it if the process dies. When another process holds it, ``on_wait`` is told
    who (the holder writes its pid into the file) before this one waits."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                handle.seek(0)
                on_wait(handle.read().strip() or "another process")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def check_input_file(path: Path) -> Path:
    """Raise MediaError (message starts with the path) if ``path`` is missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    return path
