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
