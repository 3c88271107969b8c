"""`/v1/projects`: upload a project, follow it, fetch its video, replace one input, delete it."""

from __future__ import annotations

import shutil

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from parallax_pipeline.project_file import PROJECT_FILE
from parallax_pipeline.studio import layout
from parallax_pipeline.studio.callbacks import check_callback_url
from parallax_pipeline.studio.errors import Problem, Refused, not_found
from parallax_pipeline.studio.service import Studio, preview_bytes
from parallax_pipeline.studio.uploads import receive

router = APIRouter(prefix="/v1/projects", tags=["projects"])


def _multipart(description: str, fields: dict[str, dict]) -> dict:
    """OpenAPI for a body this service parses itself (streamed, see `uploads`)."""
    return {"requestBody": {"required": True, "description": description, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": fields}}}}}


FILES = {"type": "array", "items": {"type": "string", "format": "binary"}}
FILE = {"type": "string", "format": "binary"}
PROJECT_BODY = _multipart(
    "Pictures (scene ids from their names) and optional depth maps, voiceovers named like the scenes, "
    "one narration, music, effects and project.yaml.",
    {"images": FILES, "depth": FILES, "voiceover": FILES, "narration": FILE, "music": FILE, "sfx": FILES,
     "project.yaml": FILE, "callback_url": {"type": "string"}},
)


def _studio(request: Request) -> Studio:
    return request.app.state.studio


@router.post("", status_code=201, openapi_extra=PROJECT_BODY)
async def create_project(request: Request) -> dict:
    """A new project from its files: staged, checked by decoding every file and by the
    pipeline's project rules, then moved into place at once and rendered right away."""
    studio = _studio(request)
    owner = studio.owner(request)
    staging = studio.staging()
    try:
        received = await receive(request, staging / "incoming", studio.config.limits)
        check_callback_url(received.fields.get("callback_url"), studio.config.callback_private)
        project_id = studio.new_project_id()
        spec = await run_in_threadpool(
            layout.create_project, studio.config.projects, staging, project_id, received, owner, studio.config.limits.scenes
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    studio.worker.changed(project_id)
    return {"id": project_id, "scenes": [scene.id for scene in spec.scenes], "state": "queued",
            "url": f"/v1/projects/{project_id}", "warnings": list(spec.warnings)}


@router.get("")
def list_projects(request: Request) -> dict:
    studio = _studio(request)
    owner = studio.owner(request)
    found = []
    for folder in sorted(studio.config.projects.iterdir()):
        record = layout.read_record(folder) if folder.is_dir() and not folder.name.startswith(".") else None
        if record and record.get("owner") == owner:
            found.append({"id": folder.name, "created": record.get("created"), "url": f"/v1/projects/{folder.name}"})
    return {"projects": found}


@router.get("/{project_id}")
def project_status(project_id: str, request: Request) -> dict:
    """``state`` (queued, rendering, done, failed), each scene's depth map and clip,
    the project assets, progress, and the video's URL when done."""
    studio = _studio(request)
    studio.project_record(project_id, studio.owner(request))
    return studio.project_status(project_id)


@router.api_route("/{project_id}/video", methods=["GET", "HEAD"], response_class=FileResponse)
def project_video(project_id: str, request: Request):
    """The final MP4; Range requests are answered with 206 (browsers seek with them)."""
    studio = _studio(request)
    studio.may_read(request, studio.project_record(project_id, None)["owner"])
    artifact = studio.store.load("final_video", project_id)
    if artifact is None or studio.project_status(project_id)["state"] != "done":
        raise Refused(404, [Problem(("path",), "the video is not made yet (see GET /v1/projects/{id})", "not_ready")])
    return FileResponse(artifact.path("final.mp4"), media_type="video/mp4", filename=f"{project_id}.mp4")


@router.api_route("/{project_id}/scenes/{scene_id}/{what}", methods=["GET", "HEAD"])
def scene_file(project_id: str, scene_id: str, what: str, request: Request):
    """A scene's ``depth`` (16-bit PNG, 1 = nearest), ``depth-preview`` (colour PNG/JPEG)
    or ``clip`` (the H.264 frames it shows alone, MP4)."""
    studio = _studio(request)
    studio.may_read(request, studio.project_record(project_id, None)["owner"])
    if what == "clip":
        return FileResponse(studio.scene_artifact(project_id, scene_id, "parallax_clip").path("solo.mp4"), media_type="video/mp4")
    if what == "depth":
        return FileResponse(studio.scene_artifact(project_id, scene_id, "depth_map").path("depth.png"), media_type="image/png")
    if what == "depth-preview":
        data, media_type = preview_bytes(studio.scene_artifact(project_id, scene_id, "depth_map").info.get("preview"))
        return Response(data, media_type=media_type)
    raise not_found("file")


async def _replace(request: Request, project_id: str, relative_for, kind: str) -> dict:
    studio = _studio(request)
    studio.project_record(project_id, studio.owner(request))
    staging = studio.staging()
    try:
        received = await receive(request, staging / "incoming", studio.config.limits)
        uploads = received.of("file")
        if len(uploads) != 1 or len(received.files) != 1:
            raise Refused(422, [Problem(("body", "file"), "send exactly one file in the field 'file' (curl -F file=@...)", "missing")])
        relative = relative_for(studio.project_spec(project_id), uploads[0])
        spec = await run_in_threadpool(
            layout.replace_input, studio.config.projects, staging, project_id, relative, uploads[0], kind, studio.config.limits.scenes
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    studio.worker.changed(project_id)
    return {"id": project_id, "scenes": [scene.id for scene in spec.scenes], "state": "queued", "replaced": relative}


def _scene(spec, scene_id: str):
    for scene in spec.scenes:
        if scene.id == scene_id:
            return scene
    raise not_found("scene")


@router.put("/{project_id}/scenes/{scene_id}/image", openapi_extra=_multipart("The new picture.", {"file": FILE}))
async def replace_image(project_id: str, scene_id: str, request: Request) -> dict:
    """Replace one scene's picture (kept under its file name; pictures are read by
    content); only that scene's depth map and clip are made again, then the project."""
    return await _replace(request, project_id, lambda spec, upload: str(_scene(spec, scene_id).image.relative_to(spec.root)), "picture")


@router.put("/{project_id}/scenes/{scene_id}/voiceover", openapi_extra=_multipart("The new narration.", {"file": FILE}))
async def replace_voiceover(project_id: str, scene_id: str, request: Request) -> dict:
    def relative(spec, upload):
        scene = _scene(spec, scene_id)
        if scene.voiceover is not None:
            return str(scene.voiceover.relative_to(spec.root))
        return f"audio/voiceover/{scene.id}{layout.suffix_of(upload.filename) or '.wav'}"

    return await _replace(request, project_id, relative, "audio")


@router.put("/{project_id}/project.yaml", openapi_extra=_multipart("The new project.yaml.", {"file": FILE}))
async def replace_project_file(project_id: str, request: Request) -> dict:
    return await _replace(request, project_id, lambda spec, upload: PROJECT_FILE, "project")


@router.delete("/{project_id}", status_code=204)
async def delete_project(project_id: str, request: Request) -> Response:
    """The project's folder goes at once; its partitions and store pointers are removed
    by the next settle (what the pipeline does for a deleted folder)."""
    studio = _studio(request)
    studio.project_record(project_id, studio.owner(request))
    await run_in_threadpool(layout.remove_project, studio.config.projects, project_id)
    studio.forget_project(project_id)
    return Response(status_code=204)
