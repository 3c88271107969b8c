"""The single jobs: `/v1/renders` (a picture to a parallax clip), `/v1/depth` (a picture
to its depth map), `/v1/mixes` (audio files to a mastered mix).

Each POST answers 202 with the job's id and status, or 200 with its result when it ends
within ``?wait=<seconds>``; each GET takes the same ``wait``. Results are cached by
content (`tasks`), so a repeated request is answered from the store.
"""

from __future__ import annotations

import json
import shutil

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from parallax_pipeline.studio import layout, tasks
from parallax_pipeline.studio.callbacks import check_callback_url
from parallax_pipeline.studio.errors import Problem, Refused
from parallax_pipeline.studio.routes_projects import FILE, FILES, _multipart
from parallax_pipeline.studio.service import Studio
from parallax_pipeline.studio.uploads import Received, UploadedFile, receive

router = APIRouter(tags=["jobs"])
MEDIA_TYPES = {"video": "video/mp4", "depth": "image/png", "preview": "image/png", "audio": "audio/wav"}
PATHS = {"render": "/v1/renders", "depth": "/v1/depth", "mix": "/v1/mixes"}
MAX_WAIT = 300.0


def _one(received: Received, name: str, required: bool) -> UploadedFile | None:
    found = received.of(name)
    if len(found) > 1 or (required and not found):
        raise Refused(422, [Problem(("body", name), f"send exactly one file in {name!r}" if required else f"{name!r} takes one file", "missing")])
    return found[0] if found else None


def _unknown(received: Received, files: set[str], fields: set[str]) -> None:
    problems = [Problem(("body", u.field, u.filename), f"unknown file field {u.field!r}") for u in received.files if u.field not in files]
    problems += [Problem(("body", name), f"unknown field {name!r}") for name in received.fields if name not in fields]
    if problems:
        raise Refused(422, problems)


def _keep(upload: UploadedFile, folder, name: str, kind: str) -> str:
    problems: list[Problem] = []
    layout.move_checked(upload, folder / name, kind, problems)
    if problems:
        raise Refused(422, problems)
    return name


def _form_value(text: str):
    """A form field's text as the number or boolean it spells (``24``, ``1.5``, ``true``), else as is."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) else text


def _render_job(received: Received, folder) -> tuple[dict, dict]:
    _unknown(received, {"image", "depth"}, set(tasks.RenderSettings.model_fields) | {"callback_url"})
    image, depth = _one(received, "image", True), _one(received, "depth", False)
    values = {k: _form_value(v) for k, v in received.fields.items() if k not in ("callback_url", "resolution")}
    settings = tasks.parse_settings(tasks.RenderSettings, values, "settings")
    resolution = received.fields.get("resolution")
    if resolution:  # a preset name or WIDTHxHEIGHT, as `parallax render --resolution` takes
        width, sep, height = resolution.lower().partition("x")
        size = (int(width), int(height)) if sep and width.isdigit() and height.isdigit() else resolution
        settings = tasks.parse_settings(tasks.RenderSettings, {**settings.model_dump(), "resolution": size}, "settings")
    inputs = {"image": _keep(image, folder, "image" + layout.suffix_of(image.filename), "picture")}
    if depth is not None:
        if layout.suffix_of(depth.filename) not in (".png", ".npy"):
            raise Refused(422, [Problem(("body", "depth", depth.filename), "depth maps are .png (16-bit) or .npy")])
        inputs["depth"] = _keep(depth, folder, "depth" + layout.suffix_of(depth.filename), "depth")
    return inputs, settings.model_dump(mode="json")


def _depth_job(received: Received, folder) -> tuple[dict, dict]:
    _unknown(received, {"image"}, {"callback_url"})
    image = _one(received, "image", True)
    return {"image": _keep(image, folder, "image" + layout.suffix_of(image.filename), "picture")}, {}


def _mix_job(received: Received, folder) -> tuple[dict, dict]:
    _unknown(received, {"voiceover", "music", "sfx"}, {"settings", "callback_url"})
    try:
        values = json.loads(received.fields.get("settings") or "{}")
    except ValueError as err:
        raise Refused(422, [Problem(("body", "settings"), f"not JSON: {err}")]) from err
    if not isinstance(values, dict):
        raise Refused(422, [Problem(("body", "settings"), "expected a JSON object")])
    inputs: dict[str, str] = {}
    for field_name in ("voiceover", "sfx"):
        for upload in received.of(field_name):
            inputs[f"{field_name}/{upload.filename}"] = _keep(upload, folder, f"{field_name}-{upload.filename}", "audio")
    music = _one(received, "music", False)
    if music is not None:
        inputs["music"] = _keep(music, folder, "music" + layout.suffix_of(music.filename), "audio")
    if not inputs:
        raise Refused(422, [Problem(("body",), "send at least one of voiceover, music, sfx", "missing")])
    # Files the settings do not place start at 0 s at level 1.
    for field_name, key in (("voiceover", "voiceover"), ("sfx", "effects")):
        placed = {clip.get("file") for clip in values.get(key, []) if isinstance(clip, dict)}
        values.setdefault(key, [])
        values[key] += [{"file": u.filename} for u in received.of(field_name) if u.filename not in placed]
    request = tasks.parse_settings(tasks.MixRequest, values, "settings")
    unknown = [Problem(("body", "settings", key, clip.file), f"no uploaded {field} file named {clip.file!r}")
               for key, field in (("voiceover", "voiceover"), ("effects", "sfx"))
               for clip in getattr(request, key) if f"{field}/{clip.file}" not in inputs]
    if unknown:
        raise Refused(422, unknown)
    return inputs, request.model_dump(mode="json")


BUILDERS = {"render": _render_job, "depth": _depth_job, "mix": _mix_job}


async def _submit(kind: str, request: Request, wait: float) -> Response:
    studio: Studio = request.app.state.studio
    owner = studio.owner(request)
    job_id, folder = studio.jobs.new_folder(kind)
    try:
        received = await receive(request, folder / "incoming", studio.config.limits)
        callback = check_callback_url(received.fields.get("callback_url"), studio.config.callback_private)
        inputs, settings = await run_in_threadpool(BUILDERS[kind], received, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(folder / "incoming", ignore_errors=True)
    job = studio.jobs.submit({"id": job_id, "kind": kind, "owner": owner, "inputs": inputs, "settings": settings,
                              "callback_url": callback})
    return await _answer(studio, job, wait, created=True)


async def _answer(studio: Studio, job: dict, wait: float, created: bool = False) -> Response:
    if wait > 0 and job["state"] not in ("done", "failed"):
        job = await run_in_threadpool(studio.jobs.wait, job["id"], min(wait, MAX_WAIT)) or job
    status = studio.job_status(job)
    status["url"] = f"{PATHS[job['kind']]}/{job['id']}"
    return JSONResponse(status, status_code=202 if created and job["state"] not in ("done", "failed") else 200)


def _routes(kind: str, files: dict, summary: str) -> None:
    base = PATHS[kind]

    @router.post(base, summary=summary, openapi_extra=_multipart(summary, files), status_code=202)
    async def submit(request: Request, wait: float = 0.0) -> Response:
        return await _submit(kind, request, wait)

    @router.get(base + "/{job_id}", summary=f"a {kind} job's state and result")
    async def status(job_id: str, request: Request, wait: float = 0.0) -> Response:
        studio: Studio = request.app.state.studio
        return await _answer(studio, studio.job(kind, job_id, studio.owner(request)), wait)

    @router.get(base + "/{job_id}/{role}", summary=f"a {kind} job's file")
    def download(job_id: str, role: str, request: Request):
        studio: Studio = request.app.state.studio
        job = studio.job(kind, job_id, None)
        studio.may_read(request, job["owner"])
        return FileResponse(studio.job_file(job, role), media_type=MEDIA_TYPES[role])

    @router.delete(base + "/{job_id}", status_code=204)
    def delete(job_id: str, request: Request) -> Response:
        studio: Studio = request.app.state.studio
        studio.delete_job(studio.job(kind, job_id, studio.owner(request)))
        return Response(status_code=204)


RENDER_FIELDS = {"image": FILE, "depth": FILE, **{name: {"type": "string"} for name in tasks.RenderSettings.model_fields}, "callback_url": {"type": "string"}}
_routes("render", RENDER_FIELDS, "One picture (+ optional depth map) to a parallax clip")
_routes("depth", {"image": FILE, "callback_url": {"type": "string"}}, "A picture to its depth map (16-bit PNG) and a preview")
_routes("mix", {"voiceover": FILES, "music": FILE, "sfx": FILES, "settings": {"type": "string"}, "callback_url": {"type": "string"}},
        "Voiceover, music and effects to the mastered mix, with its loudness")
