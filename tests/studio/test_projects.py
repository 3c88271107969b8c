"""`/v1/projects` against a real server: upload, render, state, video with Range,
ownership, every refusal, a replaced picture re-rendering one scene, delete."""

from __future__ import annotations

import io
import time

import av
import dagster as dg

from tests.studio.conftest import BOB, project_files, wait_for


def _projects(server) -> list[str]:
    """The project folders (hidden staging and lock folders are the service's own)."""
    return sorted(p.name for p in server.projects.iterdir() if not p.name.startswith("."))


def _staged(server) -> list[str]:
    staging = server.projects / ".staging"
    return sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []


def _frames(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_health_and_docs(server):
    with server.client(None) as anonymous:
        health = anonymous.get("/healthz")
        assert health.status_code == 200, health.text
        assert set(health.json()["checks"]) == {"instance", "store", "projects", "run_execution"}
        assert all(check["ok"] for check in health.json()["checks"].values())
        assert anonymous.get("/docs").status_code == 200
        assert "/v1/projects" in anonymous.get("/openapi.json").json()["paths"]


def test_tokens_are_required(server, tmp_path):
    for token in (None, "wrong-token-0123456789"):
        with server.client(token) as client:
            for method, path in (("GET", "/v1/projects"), ("GET", "/v1/projects/p0123456789abcdef"),
                                 ("POST", "/v1/projects"), ("POST", "/v1/renders"), ("GET", "/v1/me")):
                answer = client.request(method, path)
                assert answer.status_code == 401, (method, path, answer.text)
                assert answer.headers["www-authenticate"] == "Bearer"


def test_a_project_renders_and_its_video_is_served_with_ranges(server, tmp_path):
    with server.client() as alice, server.client(BOB) as bob:
        created = alice.post("/v1/projects", files=project_files(tmp_path / "one", ["a", "b"], voiceover=True))
        assert created.status_code == 201, created.text
        project = created.json()
        assert project["scenes"] == ["a", "b"] and project["state"] == "queued"
        uploaded = time.time()
        status = wait_for(alice, project["url"])
        assert status["state"] == "done", (status.get("errors"), status["scenes"], status["assets"])
        assert [s["parallax_clip"]["state"] for s in status["scenes"]] == ["done", "done"]
        assert status["progress"]["frames_done"] == status["progress"]["frames_total"] == 48
        assert all(state["state"] == "done" for state in status["assets"].values()), status["assets"]
        # Work starts on upload, not at a daemon's next 30 s tick.
        with server.instance() as instance:
            starts = [record.create_timestamp.timestamp() for record in instance.get_run_records()
                      if project["id"] in record.dagster_run.tags.get("dagster/partition", "")]
        assert starts and min(starts) - uploaded < 10, (min(starts) - uploaded if starts else "no runs")

        video = alice.get(f"{project['url']}/video")
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert _frames(video.content) == status["output"]["frames"] == 48
        part = alice.get(f"{project['url']}/video", headers={"Range": "bytes=100-299"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 100-299/{len(video.content)}"
        assert part.content == video.content[100:300]
        assert alice.get(f"{project['url']}/video", headers={"Range": f"bytes={len(video.content) + 10}-"}).status_code == 416
        head = alice.head(f"{project['url']}/video")  # players ask for the size first
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(video.content) and not head.content

        # The signed URL in the status needs no token; a forged one is refused.
        with server.client(None) as anonymous:
            assert anonymous.get(status["video_url"]).content == video.content
            assert anonymous.get(status["video_url"][:-4] + "0000").status_code == 401
            preview = anonymous.get(status["scenes"][0]["depth_preview_url"])
            assert preview.status_code == 200 and preview.headers["content-type"].startswith("image/")
            assert anonymous.get(status["scenes"][1]["clip_url"]).headers["content-type"] == "video/mp4"

        # Another owner sees none of it: the same 404 as an id that does not exist.
        for method, path in (("GET", project["url"]), ("GET", f"{project['url']}/video"), ("DELETE", project["url"]),
                             ("GET", f"{project['url']}/scenes/a/depth"), ("PUT", f"{project['url']}/scenes/a/image")):
            assert bob.request(method, path).status_code == 404, (method, path)
        assert project["id"] not in [p["id"] for p in bob.get("/v1/projects").json()["projects"]]
        assert project["id"] in [p["id"] for p in alice.get("/v1/projects").json()["projects"]]


def test_an_invalid_upload_gets_one_entry_per_problem_and_leaves_nothing(server, tmp_path):
    files = project_files(tmp_path / "bad", ["a"])
    files = [f for f in files if f[0] != "project.yaml"] + [
        ("images", ("../../evil name.jpg", b"not a picture at all")),
        ("depth", ("nobody.png", (tmp_path / "bad" / "depth" / "a.png").read_bytes())),
        ("project.yaml", ("project.yaml", b"output: {fps: 23}\n")),
        ("colour", ("x.txt", b"?")),
    ]
    before = _projects(server)
    with server.client() as alice:
        answer = alice.post("/v1/projects", files=files)
    assert answer.status_code == 422, answer.text
    problems = answer.json()["detail"]
    places = [tuple(problem["loc"]) for problem in problems]
    assert ("body", "images", "evil-name.jpg") in places  # the name sanitised: no path, no space
    assert ("body", "depth", "nobody.png") in places
    assert ("body", "colour", "x.txt") in places
    assert len(problems) == 3, problems  # project.yaml is checked once the files are sound
    assert any("not a readable picture" in problem["msg"] for problem in problems)
    assert _projects(server) == before and _staged(server) == []

    files = [f for f in project_files(tmp_path / "bad2", ["a"]) if f[0] != "project.yaml"]
    with server.client() as alice:
        answer = alice.post("/v1/projects", files=files + [("project.yaml", ("project.yaml", b"output: {fps: 23}\nspeed: 2\n"))])
    assert answer.status_code == 422
    messages = [problem["msg"] for problem in answer.json()["detail"]]
    assert len(messages) == 2 and all(m.startswith("project.yaml: ") for m in messages), messages
    assert any("output.fps" in m for m in messages) and any("speed" in m for m in messages)
    assert _projects(server) == before and _staged(server) == []


def test_limits_refuse_with_413_and_leave_nothing(server, tmp_path):
    before = _projects(server)
    with server.client() as alice:
        big = alice.post("/v1/projects", files=[("images", ("big.png", b"\0" * (2 * 1024 * 1024 + 1)))])
        assert big.status_code == 413 and big.json()["detail"][0]["type"] == "file_too_large"
        whole = alice.post("/v1/projects", files=[("sfx", (f"{i}.wav", b"\0" * 2_000_000)) for i in range(7)])
        assert whole.status_code == 413 and whole.json()["detail"][0]["type"] == "request_too_large"
        many = alice.post("/v1/projects", files=[("sfx", (f"{i}.wav", b"RIFF")) for i in range(41)])
        assert many.status_code == 413 and many.json()["detail"][0]["type"] == "too_many_files"
        scenes = project_files(tmp_path / "many", [f"s{i}" for i in range(9)])
        assert alice.post("/v1/projects", files=scenes).status_code == 422
        plain = alice.post("/v1/projects", content=b"{}", headers={"content-type": "application/json"})
        assert plain.status_code == 422
    assert _projects(server) == before and _staged(server) == []


def test_a_replaced_picture_re_renders_only_its_scene(server, tmp_path):
    with server.client() as alice:
        project = alice.post("/v1/projects", files=project_files(tmp_path / "two", ["a", "b"])).json()
        assert wait_for(alice, project["url"])["state"] == "done"
        with server.instance() as instance:
            mark = max(r.storage_id for key in instance.get_asset_keys()
                       for r in instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1).records)
        replacement = sorted((tmp_path / "two" / "images").iterdir())[1].read_bytes()  # b's picture for a
        answer = alice.put(f"{project['url']}/scenes/a/image", files={"file": ("new.jpg", replacement)})
        assert answer.status_code == 200, answer.text
        assert answer.json()["replaced"] == "images/a.jpg"
        status = wait_for(alice, project["url"])
        assert status["state"] == "done", (status.get("errors"), status["scenes"], status["assets"])
        with server.instance() as instance:
            made = {(key.to_user_string(), r.partition_key) for key in instance.get_asset_keys()
                    for r in instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, after_storage_id=mark), limit=100).records}
        pid = project["id"]
        assert ("parallax_clip", f"{pid}|001") in made and ("depth_map", f"{pid}|001") in made
        assert not any(partition == f"{pid}|002" for _, partition in made), made
        assert ("final_video", pid) in made

        bad = alice.put(f"{project['url']}/scenes/a/image", files={"file": ("x.jpg", b"garbage")})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "file", "x.jpg"]
        assert alice.put(f"{project['url']}/scenes/zz/image", files={"file": ("x.jpg", replacement)}).status_code == 404
        yaml = alice.put(f"{project['url']}/project.yaml", files={"file": ("project.yaml", b"output: {fps: 7}\n")})
        assert yaml.status_code == 422 and "output.fps" in yaml.json()["detail"][0]["msg"]
        assert alice.get(project["url"]).json()["state"] == "done"  # the refused file changed nothing
        longer = b"output: {resolution: [64, 36], fps: 24, quality: draft}\ndefaults: {duration: 1.5, transition: {type: cut}}\n"
        assert alice.put(f"{project['url']}/project.yaml", files={"file": ("project.yaml", longer)}).status_code == 200
        status = wait_for(alice, project["url"])
        assert status["state"] == "done" and status["output"]["frames"] == 72
        assert _frames(alice.get(status["video_url"]).content) == 72

        assert alice.delete(project["url"]).status_code == 204
        assert alice.get(project["url"]).status_code == 404
        assert not (server.projects / pid).exists()
