"""Multipart uploads streamed to disk as they arrive, with limits, and safe file names.

Starlette's own form parser keeps up to a megabyte of each file in memory and counts
nothing across a request; here every part goes straight to a file in the request's
staging folder, and the request's bytes, each file's bytes and the number of files are
counted as they arrive, so an oversized request is refused (413) mid-stream.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from parallax_pipeline.studio.config import Limits
from parallax_pipeline.studio.errors import Problem, Refused


@dataclass(frozen=True)
class UploadedFile:
    field: str
    filename: str
    """The client's name, sanitised (`safe_filename`): never a path."""
    path: Path
    size: int


@dataclass
class Received:
    files: list[UploadedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def of(self, name: str) -> list[UploadedFile]:
        return [upload for upload in self.files if upload.field == name]


def safe_filename(name: str) -> str:
    """A client's file name reduced to one harmless path component: its last part
    (either slash), NFC, letters, digits, '.', '-', '_' only, no leading dot, at most
    100 characters, the extension lower-cased. Empty when nothing usable is left."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name))[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).lstrip(".-_")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.strip("-_.")[:90]
    suffix = suffix.lower()[:10]
    return f"{stem}.{suffix}" if stem and suffix else stem


class _Parts:
    """The parser's callbacks: one open file or field buffer at a time."""

    def __init__(self, folder: Path, limits: Limits, received: Received):
        self.folder, self.limits, self.received = folder, limits, received
        self.header_field, self.header_value = b"", b""
        self.headers: dict[bytes, bytes] = {}
        self.name = ""
        self.filename: str | None = None
        self.handle = None
        self.path: Path | None = None
        self.size = 0
        self.text = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.begin,
            "on_header_field": lambda data, start, end: self._add("header_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("header_value", data[start:end]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.data,
            "on_part_end": self.end,
        }

    def _add(self, attribute: str, data: bytes) -> None:
        setattr(self, attribute, getattr(self, attribute) + data)

    def begin(self) -> None:
        self.headers, self.size, self.text = {}, 0, bytearray()

    def header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        self.filename = None if raw_filename is None else raw_filename.decode("utf-8", "replace")
        if self.filename is not None:
            if len(self.received.files) >= self.limits.files:
                raise Refused(413, [Problem(("body", self.name), f"more than {self.limits.files} files in one request", "too_many_files")])
            # The client's extension stays: some readers choose a format by it (.npy).
            suffix = safe_filename(self.filename).rpartition(".")[2] if "." in safe_filename(self.filename) else ""
            self.path = self.folder / f"part-{len(self.received.files):04d}{'.' + suffix if suffix else ''}"
            self.handle = open(self.path, "wb")

    def data(self, data: bytes, start: int, end: int) -> None:
        self.size += end - start
        if self.handle is not None:
            if self.size > self.limits.file_bytes:
                raise Refused(413, [Problem(("body", self.name, self.filename or ""),
                                            f"file is over the {self.limits.file_bytes:,}-byte limit per file", "file_too_large")])
            self.handle.write(data[start:end])
        else:
            if self.size > self.limits.field_bytes:
                raise Refused(413, [Problem(("body", self.name), f"field is over {self.limits.field_bytes:,} bytes", "field_too_large")])
            self.text += data[start:end]

    def end(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
            self.received.files.append(UploadedFile(self.name, safe_filename(self.filename or ""), self.path, self.size))
        else:
            self.received.fields[self.name] = self.text.decode("utf-8", "replace")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


async def receive(request: Request, folder: Path, limits: Limits) -> Received:
    """Parse a multipart/form-data body into ``folder`` (files) and memory (short text
    fields). Raises `Refused`: 413 over a limit, 422 when the body is not multipart."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise Refused(422, [Problem(("body",), "expected a multipart/form-data body (curl -F name=@file)", "not_multipart")])
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.request_bytes:
        raise Refused(413, [Problem(("body",), f"request of {int(declared):,} bytes is over the {limits.request_bytes:,}-byte limit", "request_too_large")])
    folder.mkdir(parents=True, exist_ok=True)
    received = Received()
    parts = _Parts(folder, limits, received)
    parser = MultipartParser(boundary, parts.callbacks())
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limits.request_bytes:
                raise Refused(413, [Problem(("body",), f"request is over the {limits.request_bytes:,}-byte limit", "request_too_large")])
            parser.write(chunk)
        parser.finalize()
    finally:
        parts.close()
    return received
