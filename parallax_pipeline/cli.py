"""Command line: `parallax run` renders every project under projects/ to a finished video."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

INSTANCE_SETTINGS = """\
# Written by Parallax Studio. GPU steps share one pool so runs never fight over the card.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def prepare_dagster_home(path: Path) -> Path:
    """A local DAGSTER_HOME (SQLite storage) with the pool limit the GPU assets rely on."""
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    settings = path / "dagster.yaml"
    if not settings.exists():
        settings.write_text(INSTANCE_SETTINGS)
    os.environ["DAGSTER_HOME"] = str(path)
    return path


def run_projects(args: argparse.Namespace) -> int:
    os.environ["PARALLAX_PROJECTS_DIR"] = str(Path(args.projects).resolve())
    os.environ.setdefault("PARALLAX_STORAGE_DIR", str(Path(args.storage).resolve()))
    os.environ.setdefault("PARALLAX_RENDERS_DIR", str(Path(args.renders).resolve()))
    home = prepare_dagster_home(Path(os.environ.get("DAGSTER_HOME") or args.dagster_home))

    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)

    from parallax_pipeline.definitions import defs
    from parallax_pipeline.runner import settle

    with dg.DagsterInstance.get() as instance:
        report = settle(defs, instance, log=lambda line: print(line, flush=True), log_level="INFO")
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    for failure in report.failures:
        print(f"failed: {failure}", file=sys.stderr)
    renders = Path(os.environ["PARALLAX_RENDERS_DIR"])
    videos = sorted(renders.glob("*.mp4")) if renders.is_dir() else []
    print(f"\n{len(report.runs)} runs; DAGSTER_HOME={home}")
    for video in videos:
        print(f"video: {video}")
    print(
        "open the UI:  DAGSTER_HOME={home} .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000\n"
        "              then browse http://127.0.0.1:3000".format(home=home)
    )
    return 0 if report.succeeded and not report.problems else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parallax", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="render every project under the projects folder, incrementally")
    run.add_argument("--projects", default="projects", help="folder of projects (default: projects)")
    run.add_argument("--storage", default="storage", help="artifact store (default: storage)")
    run.add_argument("--renders", default="renders", help="where finished videos are copied (default: renders)")
    run.add_argument("--dagster-home", default=".dagster_home", help="used when DAGSTER_HOME is unset")
    run.set_defaults(handler=run_projects)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
