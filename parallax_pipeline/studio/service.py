"""The studio's parts in one object: configuration, definitions, instance, store, the
project worker, the job book, callbacks, tokens and URL signing; and who may see what."""

from __future__ import annotations

import base64
import copy
import os
import re
import secrets
from pathlib import Path

import dagster as dg
from starlette.requests import Request

from parallax_pipeline import partitions
from parallax_pipeline.definitions import build_definitions
from parallax_pipeline.project_file import NAME_PATTERN, ProjectError
from parallax_pipeline.spec import ProjectSpec, load_project
from parallax_pipeline.studio import layout, tasks
from parallax_pipeline.studio.auth import OPEN_OWNER, Signer, Tokens
from parallax_pipeline.studio.callbacks import CallbackSender
from parallax_pipeline.studio.config import StudioConfig
from parallax_pipeline.studio.errors import Problem, Refused, not_found
from parallax_pipeline.studio.jobs import PREFIX, JobBook
from parallax_pipeline.studio.status import project_status
from parallax_pipeline.studio.worker import ProjectWorker

class Studio:
    def __init__(self, config: StudioConfig):
        self.config = config
        for folder in (config.projects, config.renders, config.studio):
            folder.mkdir(parents=True, exist_ok=True)
        self.defs = build_definitions(
            projects=str(config.projects), storage=str(config.storage), renders=str(config.renders),
            depth_model=config.depth_model, device=config.device,
        )
        self.instance = dg.DagsterInstance.get()
        self.store = self.defs.resources["artifacts"].open()
        self.tokens = Tokens(config.tokens_text)
        self.signer = Signer(config.studio / "url.key")
        self.callbacks = CallbackSender(config.callback_attempts, config.callback_backoff, config.callback_private)
        self.worker = ProjectWorker(self.defs, self.store.run_lock, self._projects_settled)
        self.jobs = JobBook(config.studio / "jobs", self._execute_job, self._job_ended)
        self._statuses: dict[str, tuple[tuple, dict]] = {}

    def start(self) -> None:
        self.callbacks.start()
        self.worker.start()
        self.jobs.start()

    def stop(self) -> None:
        self.worker.stop()
        self.jobs.stop()
        self.callbacks.stop()

    # ------------------------------------------------------------------ who is asking
    def owner(self, request: Request) -> str:
        """The requester's owner name from its bearer token; 401 without a valid one."""
        if not self.tokens.configured:
            return OPEN_OWNER
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        owner = self.tokens.owner(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if owner is None:
            raise Refused(401, [Problem(("header", "Authorization"), "a valid bearer token is required (Authorization: Bearer <token>)", "unauthorized")],
                          headers={"WWW-Authenticate": "Bearer"})
        return owner

    def may_read(self, request: Request, owner: str) -> None:
        """Media: a signed URL (any holder) or the owner's token."""
        query = request.query_params
        if self.signer.valid(request.url.path, query.get("expires"), query.get("signature")):
            return
        if self.owner(request) != owner:
            raise not_found("resource")

    def url(self, path: str) -> str:
        return self.signer.url(path, self.config.url_seconds)

    # ------------------------------------------------------------------ projects
    def new_project_id(self) -> str:
        return "p" + secrets.token_hex(8)

    def staging(self) -> Path:
        folder = self.config.projects / layout.STAGING / f"upload-{os.getpid()}-{secrets.token_hex(6)}"
        folder.mkdir(parents=True)
        return folder

    def project_record(self, project_id: str, owner: str | None) -> dict:
        """The project's record when ``owner`` may see it (None: anyone); else 404."""
        if not re.match(NAME_PATTERN, project_id) or not project_id.startswith("p"):
            raise not_found("project")
        record = layout.read_record(self.config.projects / project_id)
        if record is None or (owner is not None and record.get("owner") != owner):
            raise not_found("project")
        return record

    def project_spec(self, project_id: str) -> ProjectSpec:
        try:
            return load_project(self.config.projects / project_id)
        except ProjectError as err:
            raise Refused(409, [Problem(("path",), f"the project does not load: {err}", "invalid_project")]) from err

    def project_status(self, project_id: str) -> dict:
        """The project's status with fresh signed URLs. The status itself is read from the
        instance (about 20 queries) only when something it depends on moved: the
        worker's phase or settle count, the event log's newest record, the project's files."""
        phase = self.worker.phase(project_id)
        key = (phase, self.worker.settles, self._newest_event(), _files_state(self.config.projects / project_id))
        cached = self._statuses.get(project_id)
        if cached is not None and cached[0] == key and key[2] is not None:
            status = copy.deepcopy(cached[1])
        else:
            spec = self.project_spec(project_id)
            status = project_status(spec, self.instance, self.store, self.config.depth_model,
                                    phase, self.worker.failures.get(project_id, []))
            self._statuses[project_id] = (key, copy.deepcopy(status))
        base = f"/v1/projects/{project_id}"
        for scene in status["scenes"]:
            if scene["depth_map"]["state"] == "done":
                scene["depth_url"] = self.url(f"{base}/scenes/{scene['id']}/depth")
                scene["depth_preview_url"] = self.url(f"{base}/scenes/{scene['id']}/depth-preview")
            if scene["parallax_clip"]["state"] == "done":
                scene["clip_url"] = self.url(f"{base}/scenes/{scene['id']}/clip")
        if status["state"] == "done":
            status["video_url"] = self.url(f"{base}/video")
        return status

    def forget_project(self, project_id: str) -> None:
        """A deleted project: nothing of it stays in memory, and a settle removes its partitions."""
        self._statuses.pop(project_id, None)
        self.worker.forget(project_id)
        self.worker.changed(project_id)

    def _newest_event(self) -> int | None:
        try:
            return self.instance.event_log_storage.get_maximum_record_id()
        except Exception:  # noqa: BLE001 - a storage without it: no caching, always read
            return None

    def scene_artifact(self, project_id: str, scene_id: str, asset: str):
        spec = self.project_spec(project_id)
        for index, scene in enumerate(spec.scenes):
            if scene.id == scene_id:
                artifact = self.store.load(asset, str(partitions.scene_key(project_id, index)))
                if artifact is None:
                    raise Refused(404, [Problem(("path",), f"scene {scene_id!r} has no {asset} yet", "not_ready")])
                return artifact
        raise not_found("scene")

    def _projects_settled(self, included: set[str]) -> None:
        for project_id in included:
            record = layout.read_record(self.config.projects / project_id)
            if not record or not record.get("callback_url"):
                continue
            try:
                status = self.project_status(project_id)
            except Refused:
                continue
            if status["state"] in ("done", "failed"):
                payload = {"kind": "project", **{k: status.get(k) for k in ("id", "state", "video_url", "errors")}}
                self.callbacks.send(record["callback_url"], self.signer.callback_secret(record["owner"]), payload)

    # ------------------------------------------------------------------ single jobs
    def job(self, kind: str, job_id: str, owner: str | None) -> dict:
        job = self.jobs.read(job_id) if job_id.startswith(PREFIX[kind]) else None
        if job is None or job["kind"] != kind or (owner is not None and job["owner"] != owner):
            raise not_found(kind)
        return job

    def job_status(self, job: dict) -> dict:
        status = {k: job.get(k) for k in ("id", "kind", "state", "settings", "created", "started", "finished", "error", "cache")}
        status["result"] = job.get("info")
        if job["state"] == "done":
            base = {"render": "renders", "depth": "depth", "mix": "mixes"}[job["kind"]]
            status["urls"] = {role: self.url(f"/v1/{base}/{job['id']}/{role}") for role in JOB_FILES[job["kind"]]}
        return status

    def job_file(self, job: dict, role: str) -> Path:
        if role not in JOB_FILES[job["kind"]] or job["state"] != "done":
            raise not_found("file")
        artifact = self.store.load(tasks.ASSETS[job["kind"]], job["id"])
        if artifact is None:
            raise Refused(410, [Problem(("path",), "the result is gone from the store; submit the job again", "gone")])
        return artifact.path(JOB_FILES[job["kind"]][role])

    def _execute_job(self, job: dict, folder: Path) -> dict:
        inputs = {role: folder / name for role, name in job["inputs"].items()}
        model, device = self.config.depth_model, self.config.device
        if job["kind"] == "render":
            artifact, hit = tasks.run_render(self.store, job["id"], inputs, tasks.RenderSettings(**job["settings"]), model, device)
        elif job["kind"] == "depth":
            artifact, hit = tasks.run_depth(self.store, job["id"], inputs, model, device)
        else:
            artifact, hit = tasks.run_mix(self.store, job["id"], inputs, tasks.MixRequest(**job["settings"]))
        return {"info": dict(artifact.info), "cache": "hit" if hit else "miss"}

    def _job_ended(self, job: dict) -> None:
        if self.jobs.read(job["id"]) is None:  # deleted while it ran: its result goes too
            self.store.forget(tasks.ASSETS[job["kind"]], job["id"])
            return
        if job.get("callback_url"):
            self.callbacks.send(job["callback_url"], self.signer.callback_secret(job["owner"]), self.job_status(job))

    def delete_job(self, job: dict) -> None:
        self.store.forget(tasks.ASSETS[job["kind"]], job["id"])
        self.jobs.delete(job["id"])


def _files_state(folder: Path) -> tuple:
    """Names, sizes and times of a project's files: changes when any input changes."""
    found = []
    for path in sorted(folder.rglob("*")):
        stat = path.stat()
        found.append((str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


JOB_FILES = {"render": {"video": "video.mp4"}, "depth": {"depth": "depth.png", "preview": "preview.png"}, "mix": {"audio": "mix.wav"}}
"""Each job kind's downloads: URL name -> the artifact's file."""


def preview_bytes(markdown: str) -> tuple[bytes, str]:
    """The picture of a ``![alt](data:image/png;base64,...)`` preview, and its type."""
    match = re.search(r"\(data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)\)", markdown or "")
    if not match:
        raise Refused(404, [Problem(("path",), "no preview recorded", "not_found")])
    return base64.b64decode(match.group(2)), match.group(1)
