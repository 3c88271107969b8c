"""Uploaded files laid out as a project folder, checked, and moved into place atomically.

A new project is assembled in ``<projects>/.staging/<request>/<id>/`` (the same
filesystem, a hidden folder the pipeline never scans), every file decoded by content
(not trusted by extension), the folder validated by the pipeline's own `load_project`,
and only then renamed into ``<projects>/<id>``: the pipeline sees the whole project or
nothing. A replaced input is validated the same way on a hard-linked copy of the
project before it is renamed over the old file. The owner and callback URL are kept in
``.studio.json`` inside the folder (hidden files are no part of a project).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.files import exclusive_lock, write_atomic
from parallax_pipeline.project_file import AUDIO_SUFFIXES, DEPTH_SUFFIXES, IMAGE_SUFFIXES, PROJECT_FILE, ProjectError
from parallax_pipeline.spec import ProjectSpec, load_project
from parallax_pipeline.studio.errors import Problem, Refused
from parallax_pipeline.studio.uploads import Received, UploadedFile

RECORD_FILE = ".studio.json"
STAGING = ".staging"
LOCKS = ".studio-locks"
SINGLE_FIELDS = ("narration", "music", "project.yaml")
FILE_FIELDS = ("images", "depth", "voiceover", "sfx", *SINGLE_FIELDS)


def scene_id_of(filename: str) -> str:
    """The scene id a picture's file name gives (the rule `spec.load_project` applies to
    the stems of ``images/``), so ``01 Valley.JPG`` is scene ``01-Valley``."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:64]


def suffix_of(filename: str) -> str:
    return "." + filename.rsplit(".", 1)[1] if "." in filename else ""


def read_record(folder: Path) -> dict | None:
    try:
        return json.loads((folder / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None


def write_record(folder: Path, record: dict) -> None:
    write_atomic(folder / RECORD_FILE, json.dumps(record, indent=1, sort_keys=True).encode())


def project_lock(projects: Path, project_id: str):
    """Held while a project's files change: two uploads to one project are serialised."""
    return exclusive_lock(projects / LOCKS / f"{project_id}.lock")


def _problem(upload: UploadedFile, message: str, kind: str = "invalid") -> Problem:
    return Problem(("body", upload.field, upload.filename or "(no name)"), message, kind)


def _decode_problem(upload: UploadedFile, kind: str) -> str | None:
    """Why an uploaded file does not decode as ``kind`` (picture, depth, audio); None if it does."""
    from parallax_pipeline.engine.audio.codec import decode_audio
    from parallax_pipeline.engine.depth.maps import read_depth_file
    from parallax_pipeline.engine.parallax.images import load_image

    check = {"picture": load_image, "depth": read_depth_file, "audio": decode_audio}[kind]
    try:
        check(upload.path)
    except MediaError as err:
        # The engine names the file by its server path; the client knows it by its own name.
        return str(err).replace(str(upload.path), upload.filename).replace(upload.filename + ": ", "", 1)
    return None


def place_uploads(received: Received, folder: Path) -> list[Problem]:
    """Move each uploaded file to its place in a new project folder; one problem per file
    that cannot be placed or does not decode."""
    problems: list[Problem] = []
    for name in received.fields:
        if name in FILE_FIELDS:
            problems.append(Problem(("body", name), f"{name!r} must be a file upload (curl -F '{name}=@file')"))
        elif name != "callback_url":
            problems.append(Problem(("body", name), f"unknown field {name!r}; expected {', '.join(FILE_FIELDS)} or callback_url"))
    for upload in received.files:
        if upload.field not in FILE_FIELDS:
            problems.append(_problem(upload, f"unknown field {upload.field!r}; expected one of {', '.join(FILE_FIELDS)}"))
    for single in SINGLE_FIELDS:
        if len(received.of(single)) > 1:
            problems.append(Problem(("body", single), f"{single!r} takes one file, got {len(received.of(single))}"))
    if not received.of("images"):
        problems.append(Problem(("body", "images"), "a project needs at least one picture (field 'images')", "missing"))

    scenes: set[str] = set()
    for upload in received.of("images"):
        scene, suffix = scene_id_of(upload.filename), suffix_of(upload.filename)
        if not scene or suffix not in IMAGE_SUFFIXES:
            problems.append(_problem(upload, f"pictures need a name and one of the extensions {', '.join(IMAGE_SUFFIXES)}"))
        elif scene in scenes:
            problems.append(_problem(upload, f"scene id {scene!r} comes from two pictures; give them distinct names"))
        else:
            scenes.add(scene)
            move_checked(upload, folder / "images" / f"{scene}{suffix}", "picture", problems)
    for field_name, subfolder, suffixes, kind in (
        ("depth", "depth", DEPTH_SUFFIXES, "depth"),
        ("voiceover", "audio/voiceover", AUDIO_SUFFIXES, "audio"),
    ):
        for upload in received.of(field_name):
            scene, suffix = scene_id_of(upload.filename), suffix_of(upload.filename)
            if suffix not in suffixes:
                problems.append(_problem(upload, f"{field_name} files need one of the extensions {', '.join(suffixes)}"))
            elif scene not in scenes:
                problems.append(_problem(upload, f"no scene named {scene!r}: {field_name} files are named like the pictures ({', '.join(sorted(scenes)) or 'none'})"))
            else:
                move_checked(upload, folder / subfolder / f"{scene}{suffix}", kind, problems)
    for field_name, stem in (("narration", "audio/voiceover"), ("music", "audio/music")):
        for upload in received.of(field_name)[:1]:
            if suffix_of(upload.filename) not in AUDIO_SUFFIXES:
                problems.append(_problem(upload, f"audio files need one of the extensions {', '.join(AUDIO_SUFFIXES)}"))
            else:
                move_checked(upload, folder / f"{stem}{suffix_of(upload.filename)}", "audio", problems)
    for upload in received.of("sfx"):
        if suffix_of(upload.filename) not in AUDIO_SUFFIXES:
            problems.append(_problem(upload, f"audio files need one of the extensions {', '.join(AUDIO_SUFFIXES)}"))
        elif (folder / "audio" / "sfx" / upload.filename).exists():
            problems.append(_problem(upload, "two effects with this name"))
        else:
            move_checked(upload, folder / "audio" / "sfx" / upload.filename, "audio", problems)
    for upload in received.of("project.yaml")[:1]:
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(upload.path, folder / PROJECT_FILE)
    return problems


def move_checked(upload: UploadedFile, target: Path, kind: str, problems: list[Problem]) -> None:
    if upload.size == 0:
        problems.append(_problem(upload, "empty file (0 bytes)"))
        return
    reason = _decode_problem(upload, kind)
    if reason is not None:
        problems.append(_problem(upload, f"not a readable {kind} file: {reason}"))
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(upload.path, target)


def validate(folder: Path, max_scenes: int, hide: Path) -> tuple[ProjectSpec | None, list[Problem]]:
    """The pipeline's own checks (`load_project`) on a staged folder; each problem names
    the file and field, with the staging path (``hide``) taken out of the message."""
    try:
        spec = load_project(folder)
    except (ProjectError, MediaError) as err:
        lines = [line for line in str(err).splitlines() if line.strip()]
        return None, [Problem(("body", "project.yaml"), _relative(line, hide), "project") for line in lines]
    if len(spec.scenes) > max_scenes:
        return None, [Problem(("body", "images"), f"{len(spec.scenes)} scenes; this service takes at most {max_scenes} a project", "too_many_scenes")]
    return spec, []


def _relative(message: str, hide: Path) -> str:
    for root in (str(hide.resolve()), str(hide)):
        message = message.replace(root + "/", "").replace(root, ".")
    return message


def create_project(projects: Path, staging: Path, project_id: str, received: Received, owner: str, max_scenes: int) -> ProjectSpec:
    """Assemble, check and move in a new project; raises `Refused` (422) with every problem."""
    folder = staging / project_id
    folder.mkdir(parents=True)
    problems = place_uploads(received, folder)
    if problems:
        raise Refused(422, problems)
    spec, problems = validate(folder, max_scenes, folder)
    if problems:
        raise Refused(422, problems)
    write_record(folder, {"owner": owner, "callback_url": received.fields.get("callback_url"), "created": time.time()})
    with project_lock(projects, project_id):
        os.rename(folder, projects / project_id)  # one rename: the whole project appears at once
    return load_project(projects / project_id)


def replace_input(projects: Path, staging: Path, project_id: str, relative: str, upload: UploadedFile, kind: str, max_scenes: int) -> ProjectSpec:
    """Put ``upload`` at ``relative`` in the project if the project stays valid with it:
    checked on a hard-linked copy, then renamed over the old file (atomic)."""
    if upload.size == 0:
        raise Refused(422, [_problem(upload, "empty file (0 bytes)")])
    if kind != "project":
        reason = _decode_problem(upload, kind)
        if reason is not None:
            raise Refused(422, [_problem(upload, f"not a readable {kind} file: {reason}")])
    live = projects / project_id
    with project_lock(projects, project_id):
        if not live.is_dir():
            raise Refused(404, [Problem(("path",), "no project with this id", "not_found")])
        copy = staging / "check" / project_id
        shutil.copytree(live, copy, copy_function=os.link)
        (copy / relative).unlink(missing_ok=True)
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        os.link(upload.path, copy / relative)
        _, problems = validate(copy, max_scenes, copy)
        if problems:
            raise Refused(422, problems)
        (live / relative).parent.mkdir(parents=True, exist_ok=True)
        os.replace(upload.path, live / relative)
    return load_project(live)


def remove_project(projects: Path, project_id: str) -> None:
    """Take the folder out of the projects root in one rename, then delete it."""
    trash = projects / STAGING / f"deleted-{project_id}-{os.getpid()}-{time.monotonic_ns()}"
    trash.parent.mkdir(parents=True, exist_ok=True)
    with project_lock(projects, project_id):
        os.rename(projects / project_id, trash)
    shutil.rmtree(trash, ignore_errors=True)
