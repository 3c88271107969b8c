"""Command line: `parallax run` renders every project under projects/ to a finished video;
`parallax render photo.jpg -o out.mp4` renders one picture into a parallax clip;
`parallax serve` runs the studio service (HTTP API and upload page) that renders uploads."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

def prepare_dagster_home(path: Path) -> Path:
    """A DAGSTER_HOME with Parallax Studio's instance settings (`instance_settings`): SQLite
    storage unless it already has a dagster.yaml of its own (e.g. from
    `deploy/dagster-postgres.yaml`), which is kept; one this command wrote is renewed."""
    from parallax_pipeline.instance_settings import write_dagster_home

    home = write_dagster_home(path)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run_projects(args: argparse.Namespace) -> int:
    from parallax_pipeline.store_backends import store_location

    os.environ["PARALLAX_PROJECTS_DIR"] = str(Path(args.projects).resolve())
    os.environ.setdefault("PARALLAX_STORAGE_DIR", store_location(args.storage))
    os.environ.setdefault("PARALLAX_RENDERS_DIR", str(Path(args.renders).resolve()))
    home = prepare_dagster_home(Path(os.environ.get("DAGSTER_HOME") or args.dagster_home))
    from parallax_pipeline.fork_server import start_fork_server, stop_fork_server

    start_fork_server()  # the runs' fork server imports and warms up while this process plans

    import signal

    import dagster as dg

    from parallax_pipeline.definitions import defs
    from parallax_pipeline.run_queue import QueueError
    from parallax_pipeline.runner import settle

    def stop(signum, frame):  # SIGTERM stops a render like Ctrl-C: the run ends, its slots are freed
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    log = lambda line: print(line, flush=True)  # noqa: E731
    store = defs.resources["artifacts"].open()
    try:
        with _one_run_at_a_time(store, log), dg.DagsterInstance.get() as instance:
            report = settle(defs, instance, log=log, log_level="INFO", retry_failed=True)
        stop_fork_server()
    except KeyboardInterrupt:
        print("parallax run: interrupted; what was finished is kept, run it again to go on", file=sys.stderr)
        return 130
    except QueueError as error:
        print(f"parallax run: {error}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    for failure in report.failures:
        print(f"failed: {failure}", file=sys.stderr)
    renders = Path(os.environ["PARALLAX_RENDERS_DIR"])
    print(f"\n{len(report.runs)} runs; DAGSTER_HOME={home}")
    for folder in defs.resources["projects"].project_folders():
        video = renders / f"{folder.name}.mp4"
        if folder.name in report.stale:
            old = f" (the video at {video} is older than its inputs)" if video.is_file() else ""
            print(f"stale: project {folder.name!r} has no up-to-date final video{old}:", file=sys.stderr)
            for reason in report.stale[folder.name]:
                print(f"    {reason}", file=sys.stderr)
        elif video.is_file():
            print(f"video: {video}")
    print(
        "open the UI:  DAGSTER_HOME={home} .venv/bin/dg dev -h 127.0.0.1 -p 3000\n"
        "              then browse http://127.0.0.1:3000".format(home=home)
    )
    return 0 if report.up_to_date else 1  # a failure a later round healed leaves nothing stale


def _one_run_at_a_time(store, log):
    """The store's `parallax run` lock (in its local folder: for a bucket, this
    machine's cache): a second `parallax run` on the same store waits for the first and
    then finds its work done, instead of doing it again."""
    from parallax_pipeline.engine.files import exclusive_lock

    def say(holder: str) -> None:
        log(f"waiting for the other `parallax run` on {store.url} ({holder}) to finish")

    return exclusive_lock(store.run_lock, on_wait=say)


def verify_store(args: argparse.Namespace) -> int:
    """`parallax verify`: check every stored artifact against its hash; ``--repair`` drops
    the damaged ones so the next `parallax run` rebuilds them. Exit 1 when damage was found."""
    from parallax_pipeline.store import ContentStore

    store = ContentStore(os.environ.get("PARALLAX_STORAGE_DIR") or args.storage)
    problems = store.verify(repair=args.repair)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{store.url}: every stored artifact matches its hash")
        return 0
    action = "dropped: `parallax run` rebuilds them from their inputs" if args.repair else "run with --repair to drop them"
    print(f"{store.url}: {len(problems)} problem(s); {action}", file=sys.stderr)
    return 1


def _resolution(text: str):
    """``1080p`` (a preset) or ``WIDTHxHEIGHT`` for `OutputSettings.resolution`."""
    width, sep, height = text.lower().partition("x")
    if sep and width.isdigit() and height.isdigit():
        return int(width), int(height)
    return text


def picture_disparity(image, depth_map: str | None, model: str, device: str):
    """The disparity `parallax render` renders ``image`` with: the ``--depth-map`` file
    brought to the picture exactly as the `depth_map` asset brings a project's depth file
    (`maps.supplied_disparity`), or else the ``--model``'s estimate on ``--device``."""
    from parallax_pipeline.engine.depth.maps import supplied_disparity
    from parallax_pipeline.engine.depth.model import COMMAND_WAYS_OUT, DepthModelUnavailable, load_depth_model

    if depth_map:
        return supplied_disparity(depth_map, image)
    try:
        estimator = load_depth_model(model, device)
    except DepthModelUnavailable as err:
        raise err.for_command(COMMAND_WAYS_OUT) from err
    return estimator.predict([image])[0]


def render_image(args: argparse.Namespace) -> int:
    """`parallax render`: one picture to one parallax clip. Bad input exits with status 2."""
    from pydantic import ValidationError

    from parallax_pipeline.engine.compose.timeline import frames_for
    from parallax_pipeline.engine.depth.model import DepthModelUnavailable
    from parallax_pipeline.engine.errors import MediaError
    from parallax_pipeline.engine.parallax import clip, images
    from parallax_pipeline.engine.parallax.camera import Motion
    from parallax_pipeline.project_file import OutputSettings

    def bad_input(message: str) -> int:
        print(f"parallax render: error: {message}", file=sys.stderr)
        return 2

    try:
        output = OutputSettings(
            resolution=_resolution(args.resolution), fps=args.fps, quality=args.quality, aspect=args.aspect, fit=args.fit
        )
        motion = Motion(preset=args.preset, amount=args.amount, range=args.range, easing=args.easing, loop=args.loop)
    except ValidationError as err:
        return bad_input("; ".join(f"--{item['loc'][0]}: {item['msg']}" for item in err.errors()))
    if not 0 < args.duration <= 600:
        return bad_input(f"--duration must lie in (0, 600] seconds, got {args.duration}")
    out = Path(args.output)
    if out.suffix.lower() != ".mp4":
        return bad_input(f"{out}: the output must be an .mp4 file")
    if not out.parent.resolve().is_dir():
        return bad_input(f"{out.parent}: the output folder does not exist")
    try:
        image = images.load_image(args.image)
        disparity = picture_disparity(image, args.depth_map, args.model, args.device)
    except (MediaError, DepthModelUnavailable) as err:
        return bad_input(str(err))
    except ValueError as err:  # e.g. an unknown --device
        return bad_input(str(err))

    from tqdm import tqdm

    width, height = output.size
    frames = frames_for(args.duration, output.fps)
    settings = output.video_settings()
    with tqdm(total=frames, unit="frame", desc=out.name, disable=args.quiet, file=sys.stderr) as bar:
        report = clip.render_clip(
            image,
            disparity,
            motion,
            frames,
            settings,
            out,
            fit=output.fit,
            backend=args.backend,
            on_progress=lambda done, total: bar.update(done - bar.n),
        )
    print(
        f"{out}: {width}x{height}, {report.frames} frames at {output.fps} fps, {motion.preset}, "
        f"{report.layers} layers, {report.total_seconds:.1f} s"
    )
    return 0


def _add_render_command(commands) -> None:
    from parallax_pipeline.engine.depth.model import DEFAULT_MODEL
    from parallax_pipeline.engine.parallax.camera import MotionPreset

    presets = MotionPreset.__args__
    render = commands.add_parser(
        "render",
        help="render one picture into a parallax clip",
        description="Render one picture into a parallax clip (H.264 MP4). Bad input exits with status 2.",
    )
    render.add_argument("image", help="the picture (jpg, png, webp, ...)")
    render.add_argument("-o", "--output", required=True, help="the MP4 to write")
    render.add_argument("--preset", choices=presets, default="dolly_in", help="camera move (default: dolly_in)")
    render.add_argument("--duration", type=float, default=4.0, help="seconds (default: 4)")
    render.add_argument("--resolution", default="1080p", help="720p, 1080p, 1440p, 2160p or WIDTHxHEIGHT (default: 1080p)")
    render.add_argument("--aspect", default="16:9", help="16:9, 9:16 or 1:1 for a preset resolution (default: 16:9)")
    render.add_argument("--fit", default="cover", help="cover (crop, default) or contain (show the whole picture)")
    render.add_argument("--fps", type=int, default=30, help="24, 25, 30 or 60 (default: 30)")
    render.add_argument("--quality", default="standard", help="draft, standard or high (default: standard)")
    render.add_argument("--amount", type=float, default=0.1, help="camera movement (default: 0.1; see docs/parallax.md)")
    render.add_argument("--range", type=float, default=0.17, help="movement range (default: 0.17; see docs/parallax.md)")
    render.add_argument("--easing", default="ease_in_out", help="ease_in_out (default), ease_in, ease_out or linear")
    render.add_argument("--loop", action="store_true", help="end where the move began (seamless loop)")
    render.add_argument("--depth-map", help="disparity map to use (16-bit PNG or .npy, 1 = nearest) instead of estimating one")
    render.add_argument("--model", default=os.environ.get("PARALLAX_DEPTH_MODEL", DEFAULT_MODEL),
                        help="depth model: hub id or local folder (default: $PARALLAX_DEPTH_MODEL or Depth Anything V2 Small)")
    render.add_argument("--device", default=os.environ.get("PARALLAX_DEVICE", "auto"), help="auto, cuda, mps or cpu (default: auto)")
    render.add_argument("--backend", choices=("auto", "opencv", "torch"), default="auto",
                        help="where frames are warped: auto (torch on CUDA, else OpenCV)")
    render.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    render.set_defaults(handler=render_image)


def serve(args: argparse.Namespace) -> int:
    """`parallax serve`: the HTTP API and upload page, rendering what is uploaded."""
    prepare_dagster_home(Path(os.environ.get("DAGSTER_HOME") or args.dagster_home))
    from parallax_pipeline import dagster_warnings

    dagster_warnings.quiet()
    import dataclasses

    import uvicorn

    from parallax_pipeline.studio.app import create_app
    from parallax_pipeline.studio.auth import Tokens, TokenConfigError
    from parallax_pipeline.studio.config import StudioConfig, is_loopback

    config = StudioConfig.from_env(args.projects, args.storage, args.renders, args.studio_dir)
    if "PARALLAX_CALLBACK_PRIVATE" not in os.environ and is_loopback(args.host):
        config = dataclasses.replace(config, callback_private=True)  # one machine: its own receivers
    try:
        configured = Tokens(config.tokens_text).configured
    except TokenConfigError as err:
        print(f"parallax serve: error: PARALLAX_API_TOKENS: {err}", file=sys.stderr)
        return 2
    if not configured and not is_loopback(args.host):
        print(
            f"parallax serve: error: refusing to listen on {args.host} with no tokens: set PARALLAX_API_TOKENS="
            "name:token (or PARALLAX_API_TOKENS_FILE), or listen on 127.0.0.1",
            file=sys.stderr,
        )
        return 2
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _add_serve_command(commands) -> None:
    serve_cmd = commands.add_parser("serve", help="run the studio service: HTTP API and upload page, rendering uploads")
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    serve_cmd.add_argument("--projects", default="projects", help="folder of projects (default: $PARALLAX_PROJECTS_DIR or projects)")
    serve_cmd.add_argument("--storage", default="storage", help="artifact store (default: $PARALLAX_STORAGE_DIR or storage)")
    serve_cmd.add_argument("--renders", default="renders", help="published videos (default: $PARALLAX_RENDERS_DIR or renders)")
    serve_cmd.add_argument("--studio-dir", default="studio", help="the service's job records (default: $PARALLAX_STUDIO_DIR or studio)")
    serve_cmd.add_argument("--dagster-home", default=".dagster_home", help="used when DAGSTER_HOME is unset")
    serve_cmd.add_argument("--log-level", default="info", help="uvicorn's log level (default: info)")
    serve_cmd.set_defaults(handler=serve)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parallax", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="render every project under the projects folder, incrementally")
    run.add_argument("--projects", default="projects", help="folder of projects (default: projects)")
    run.add_argument("--storage", default="storage", help="artifact store: a folder or s3://bucket/prefix (default: storage)")
    run.add_argument("--renders", default="renders", help="where finished videos are copied (default: renders)")
    run.add_argument("--dagster-home", default=".dagster_home", help="used when DAGSTER_HOME is unset")
    run.set_defaults(handler=run_projects)
    verify = commands.add_parser("verify", help="check every stored artifact against its SHA-256 name")
    verify.add_argument("--storage", default="storage", help="artifact store, a folder or s3://bucket/prefix (default: $PARALLAX_STORAGE_DIR or storage)")
    verify.add_argument("--repair", action="store_true", help="drop damaged artifacts so the next run rebuilds them")
    verify.set_defaults(handler=verify_store)
    _add_render_command(commands)
    _add_serve_command(commands)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
