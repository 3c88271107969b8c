"""The runs' fork server warms the CPU renderer up and leaves CUDA alone: a process that
initialises CUDA and then forks gives its children a CUDA they cannot use, which failed
every GPU run of `parallax run` ("Cannot re-initialize CUDA in forked subprocess")."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_warmup_renders_on_the_cpu_without_asking_for_cuda():
    # the warm-up runs at import (the fork server's preload); watch what it asks and renders
    probe = textwrap.dedent(
        """
        import sys
        from parallax_pipeline.engine.parallax import renderer

        asked, made = [], []
        renderer.cuda_available = lambda: asked.append(True) or True
        make_renderer = renderer.make_renderer
        renderer.make_renderer = lambda *a, **k: made.append(make_renderer(*a, **k)) or made[-1]
        import parallax_pipeline.fork_server_warmup  # noqa: F401

        print(len(asked), [type(r).__name__ for r in made], "torch" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "['ClipRenderer']", "False"]


def test_a_wait_for_runs_wakes_when_a_run_process_ends():
    """`parallax run` sleeps until a run's process ends (then launches the next at once)
    instead of reading the runs five times a second: the wait returns when the process
    ends, long before its timeout, and then has nothing left to wait for."""
    import time

    from parallax_pipeline.fork_server import fork_context
    from parallax_pipeline.run_launcher import PreloadedRunLauncher

    launcher = PreloadedRunLauncher()
    started = time.monotonic()
    assert launcher.wait_for_exit(30.0) is False  # nothing running: no wait at all
    assert time.monotonic() - started < 5.0
    forks = fork_context()
    process = forks.Process(target=time.sleep, args=(0.5,))
    lifeline, keep = forks.Pipe(duplex=False)
    process.start()
    lifeline.close()
    launcher._processes["run"] = (process, keep)  # as `launch_run` records a run's process
    started = time.monotonic()
    assert launcher.wait_for_exit(60.0) is True
    assert time.monotonic() - started < 30.0 and not process.is_alive()
    assert launcher.wait_for_exit(60.0) is False  # reaped: the next wait does not wake on it
