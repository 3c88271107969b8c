"""A bounded load: 8 clients upload a 3-scene project each at once, then 200 status
polls; every project is rendered and nothing is lost or mixed up."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import av

from tests.studio.conftest import project_files, wait_for

CLIENTS = 8


def test_eight_clients_at_once_then_200_polls(server, tmp_path):
    def upload(number: int) -> tuple[str, list[str]]:
        scenes = [f"c{number}-s{index}" for index in range(3)]
        with server.client() as client:
            answer = client.post("/v1/projects", files=project_files(tmp_path / f"client{number}", scenes))
            assert answer.status_code == 201, answer.text
            return answer.json()["id"], scenes

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        uploaded = list(pool.map(upload, range(CLIENTS)))
    assert len({project_id for project_id, _ in uploaded}) == CLIENTS
    with server.client() as client:
        for project_id, scenes in uploaded:
            status = wait_for(client, f"/v1/projects/{project_id}", timeout=600)
            assert status["state"] == "done", status
            assert [scene["id"] for scene in status["scenes"]] == scenes  # each its own scenes, none mixed in
            with av.open(server.url + status["video_url"]) as video:
                assert sum(1 for _ in video.decode(video=0)) == 72
        rendered = time.monotonic() - started

        def poll(index: int) -> int:
            project_id, _ = uploaded[index % CLIENTS]
            return client.get(f"/v1/projects/{project_id}").status_code

        polled = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(poll, range(200)))
        polling = time.monotonic() - polled
    assert codes == [200] * 200
    print(f"\n{CLIENTS} projects x 3 scenes rendered in {rendered:.1f} s; 200 status polls in {polling:.1f} s")
    assert polling < 60
