"""The FastAPI application of `parallax serve`: routes, errors, health, the page."""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from parallax_pipeline.engine.files import write_atomic
from parallax_pipeline.studio import page, routes_jobs, routes_projects
from parallax_pipeline.studio.config import StudioConfig
from parallax_pipeline.studio.errors import Refused
from parallax_pipeline.studio.service import Studio


def create_app(config: StudioConfig) -> FastAPI:
    studio = Studio(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        studio.start()
        try:
            yield
        finally:
            studio.stop()

    app = FastAPI(
        title="Parallax Studio",
        description="Pictures, narration and music in; a narrated 3D-parallax video out. "
        "Send `Authorization: Bearer <token>`; media URLs in responses are signed and need none.",
        version="1",
        lifespan=lifespan,
    )
    app.state.studio = studio

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return JSONResponse({"detail": [problem.as_json() for problem in exc.problems]}, exc.status, headers=exc.headers)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> JSONResponse:
        """Instance, store and run execution: 200 when all work, else 503 with the reasons."""
        checks = await run_in_threadpool(health, studio)
        ok = all(check["ok"] for check in checks.values())
        reasons = [f"{name}: {check['detail']}" for name, check in checks.items() if not check["ok"]]
        return JSONResponse({"status": "ok" if ok else "unhealthy", "checks": checks, "reasons": reasons}, 200 if ok else 503)

    @app.get("/v1/me", tags=["service"])
    def me(request: Request) -> dict:
        """Who the token belongs to, and the secret its callbacks are signed with."""
        owner = studio.owner(request)
        return {"owner": owner, "callback_secret": studio.signer.callback_secret(owner)}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def upload_page() -> HTMLResponse:
        return HTMLResponse(page.PAGE)

    app.include_router(routes_projects.router)
    app.include_router(routes_jobs.router)
    return app


def health(studio: Studio) -> dict[str, dict]:
    checks: dict[str, dict] = {}

    def check(name: str, probe) -> None:
        try:
            detail = probe()
            checks[name] = {"ok": True, "detail": detail or "ok"}
        except Exception as err:  # noqa: BLE001 - every failure is a reason to report
            checks[name] = {"ok": False, "detail": f"{type(err).__name__}: {err}"}

    def instance() -> str:
        studio.instance.get_runs(limit=1)
        return f"DAGSTER_HOME {studio.instance.root_directory}"

    def writable(folder) -> str:
        probe = folder / f".healthz-{secrets.token_hex(4)}"
        write_atomic(probe, b"ok")
        probe.unlink()
        return str(folder)

    def execution() -> str:
        dead = [t.name for t in (studio.worker.thread, studio.jobs.thread, studio.callbacks.thread) if not t.is_alive()]
        if dead:
            raise RuntimeError(f"thread(s) stopped: {', '.join(dead)}")
        if studio.worker.last_error:
            raise RuntimeError(f"the last settle failed: {studio.worker.last_error}")
        return f"{studio.worker.settles} settle(s) since start; project worker, job runner and callbacks alive"

    check("instance", instance)
    check("store", lambda: writable(studio.store.root))
    check("projects", lambda: writable(studio.config.projects))
    check("run_execution", execution)
    return checks
