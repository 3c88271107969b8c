"""`/v1/renders`, `/v1/depth`, `/v1/mixes` and callbacks against a real server."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import cv2
import numpy as np
import pytest

from tests.conftest import DEMO
from tests.studio.conftest import BOB

IMAGE = DEMO / "images" / "01-valley.jpg"
DEPTH = DEMO / "depth" / "01-valley.png"
VOICE = DEMO / "audio" / "voiceover" / "01-valley.wav"
MUSIC = DEMO / "audio" / "music.mp3"
WHOOSH = DEMO / "audio" / "sfx" / "whoosh.wav"
RENDER = {"preset": "circle", "duration": "1", "resolution": "64x36", "fps": "24", "quality": "draft"}


def test_a_render_job_makes_a_clip_and_a_repeat_comes_from_the_cache(server):
    with server.client() as alice, server.client(BOB) as bob:
        files = {"image": IMAGE.open("rb"), "depth": DEPTH.open("rb")}
        first = alice.post("/v1/renders?wait=120", files=files, data=RENDER)
        assert first.status_code == 200, first.text
        job = first.json()
        assert job["state"] == "done" and job["cache"] == "miss" and job["result"]["frames"] == 24
        video = alice.get(f"/v1/renders/{job['id']}/video")
        assert video.headers["content-type"] == "video/mp4"
        with av.open(io.BytesIO(video.content)) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        assert len(frames) == 24 and frames[0].shape == (36, 64, 3)
        assert np.abs(frames[0].astype(int) - frames[12].astype(int)).mean() > 1  # the camera moves

        again = alice.post("/v1/renders?wait=120", files={"image": IMAGE.open("rb"), "depth": DEPTH.open("rb")}, data=RENDER)
        assert again.json()["cache"] == "hit" and again.json()["id"] != job["id"]
        assert bob.get(f"/v1/renders/{job['id']}").status_code == 404
        assert bob.get(f"/v1/renders/{job['id']}/video").status_code == 404

        bad = alice.post("/v1/renders", files={"image": IMAGE.open("rb")}, data={"preset": "spin", "duration": "-1"})
        assert bad.status_code == 422
        assert {tuple(p["loc"]) for p in bad.json()["detail"]} == {("body", "settings", "preset"), ("body", "settings", "duration")}
        assert alice.post("/v1/renders", files={"depth": DEPTH.open("rb")}).status_code == 422
        assert alice.delete(f"/v1/renders/{job['id']}").status_code == 204
        assert alice.get(f"/v1/renders/{job['id']}").status_code == 404


def test_a_depth_job_gives_a_16_bit_map_and_a_preview(server):
    with server.client() as alice:
        answer = alice.post("/v1/depth?wait=120", files={"image": IMAGE.open("rb")})
        assert answer.status_code == 200, answer.text
        job = answer.json()
        assert job["state"] == "done", job
        depth = cv2.imdecode(np.frombuffer(alice.get(job["urls"]["depth"]).content, np.uint8), cv2.IMREAD_UNCHANGED)
        picture = cv2.imread(str(IMAGE))
        assert depth.dtype == np.uint16 and depth.shape == picture.shape[:2] and depth.std() > 0
        preview = alice.get(job["urls"]["preview"])
        assert preview.headers["content-type"] == "image/png" and preview.content.startswith(b"\x89PNG")
        assert alice.post("/v1/depth?wait=120", files={"image": IMAGE.open("rb")}).json()["cache"] == "hit"
        garbage = alice.post("/v1/depth", files={"image": ("x.jpg", b"GIF89a nonsense")})
        assert garbage.status_code == 422 and garbage.json()["detail"][0]["loc"] == ["body", "image", "x.jpg"]


def test_a_mix_job_masters_to_the_loudness_target(server):
    settings = {"duration": 3.0, "voiceover": [{"file": "01-valley.wav", "at": 0.5}],
                "effects": [{"file": "whoosh.wav", "at": 2.0, "level": 0.5}], "mix": {"music_level": 0.2}}
    with server.client() as alice:
        answer = alice.post(
            "/v1/mixes?wait=120",
            files=[("voiceover", VOICE.open("rb")), ("music", MUSIC.open("rb")), ("sfx", WHOOSH.open("rb"))],
            data={"settings": json.dumps(settings)},
        )
        assert answer.status_code == 200, answer.text
        job = answer.json()
        assert job["state"] == "done", job
        assert abs(job["result"]["integrated_lufs"] - -16.0) < 1.0
        assert job["result"]["true_peak_dbtp"] <= -1.0 + 0.05
        with av.open(io.BytesIO(alice.get(job["urls"]["audio"]).content)) as mix:
            frames = list(mix.decode(audio=0))
        assert frames[0].sample_rate == 48000 and sum(frame.samples for frame in frames) == 3 * 48000
        wrong = alice.post("/v1/mixes", files=[("music", MUSIC.open("rb"))],
                           data={"settings": json.dumps({"effects": [{"file": "nope.wav"}], "mix": {"music_level": 9}})})
        assert wrong.status_code == 422
        assert {tuple(p["loc"]) for p in wrong.json()["detail"]} == {("body", "settings", "mix", "music_level")}


class _Receiver(BaseHTTPRequestHandler):
    """Answers 500 to each URL's first POST, 200 after: the service must retry."""

    received: list[tuple[str, dict, bytes]] = []
    seen: set[str] = set()

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), body))
        first = self.path not in type(self).seen
        type(self).seen.add(self.path)
        self.send_response(500 if first else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received, _Receiver.seen = [], set()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _deliveries(path: str, count: int, timeout: float = 60) -> list:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [entry for entry in _Receiver.received if entry[0] == path]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{path}: {len(_Receiver.received)} deliveries in all, wanted {count} here")


def test_callbacks_are_signed_and_retried(server, receiver, tmp_path):
    from tests.studio.conftest import project_files, wait_for

    with server.client() as alice:
        secret = alice.get("/v1/me").json()["callback_secret"]
        job = alice.post("/v1/depth", files={"image": IMAGE.open("rb")}, data={"callback_url": f"{receiver}/depth"}).json()
        project = alice.post("/v1/projects", files=project_files(tmp_path / "p", ["a"]) + [("callback_url", (None, f"{receiver}/project"))])
        assert project.status_code == 201, project.text
        assert wait_for(alice, project.json()["url"])["state"] == "done"
        assert alice.post("/v1/depth", files={"image": IMAGE.open("rb")}, data={"callback_url": "file:///etc/passwd"}).status_code == 422
    for path, wanted_id in (("/depth", job["id"]), ("/project", project.json()["id"])):
        first, second = _deliveries(path, 2)
        assert first[2] == second[2] and second[1]["X-Parallax-Attempt"] == "2"
        expected = "sha256=" + hmac.new(secret.encode(), second[2], hashlib.sha256).hexdigest()
        assert second[1]["X-Parallax-Signature"] == expected
        payload = json.loads(second[2])
        assert payload["id"] == wanted_id and payload["state"] == "done"
    assert "video_url" in json.loads(_deliveries("/project", 2)[1][2])


def test_two_uploads_racing_on_one_project_are_both_kept(server, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from tests.studio.conftest import project_files, wait_for

    with server.client() as alice:
        project = alice.post("/v1/projects", files=project_files(tmp_path / "race", ["a", "b"])).json()
        pictures = sorted((tmp_path / "race" / "images").iterdir())
        voice = VOICE.read_bytes()

        def put(args):
            path, name, data = args
            with server.client() as client:
                return client.put(f"{project['url']}{path}", files={"file": (name, data)})

        jobs = [("/scenes/a/image", "x.jpg", pictures[1].read_bytes()), ("/scenes/b/voiceover", "v.wav", voice),
                ("/scenes/b/image", "y.jpg", pictures[0].read_bytes())]
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(put, jobs))
        assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
        folder = server.projects / project["id"]
        assert (folder / "images" / "a.jpg").read_bytes() == pictures[1].read_bytes()
        assert (folder / "images" / "b.jpg").read_bytes() == pictures[0].read_bytes()
        assert (folder / "audio" / "voiceover" / "b.wav").read_bytes() == voice
        assert wait_for(alice, project["url"])["state"] == "done"
