#!/usr/bin/env bash
# Issue #17's GPU figures in one go, on a machine whose python3 has torch with CUDA:
# the torch warp against the OpenCV path on CUDA (tests), a CUDA frame's profile,
# `parallax_speed.py --backend torch`, `project_end_to_end.py` (which takes CUDA by
# itself) and, for comparison, `parallax_speed.py` on the CPU renderer. Each step has its own
# time limit and writes its output under $OUT (default ./gpu-figures).
#
# A machine without the project's other dependencies and without a package index can be
# given them as wheels in .whl/, installed here with --no-deps into a private folder, not
# into the system. Fetch them where pip works, for that machine's Python (3.12 here) and
# the pins of pyproject.toml: what `parallax run` imports beyond torch, numpy, OpenCV,
# numba and the like that a CUDA image has, e.g.
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl \
#     dagster==1.13.27 dagster-shared==1.13.27 dagster-pipes==1.13.27 dagster-postgres==0.29.27 \
#     av==18.1.0 pydantic==2.14.4 pydantic_core==2.50.5 SQLAlchemy==2.1.9 alembic==1.20.1 ...
# (the rest of dagster's and pydantic's requirements; about 50 MB in all).
set -u
OUT=${OUT:-$PWD/gpu-figures}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/parallax-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/parallax-site:$PWD
fi
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "cpu cores: $(nproc)"
  python3 -c "import torch, numpy, cv2, numba, av, dagster; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), '| numpy', numpy.__version__, '| cv2', cv2.__version__, '| numba', numba.__version__, '| av', av.__version__, '| dagster', dagster.__version__)"
} 2>&1 | tee "$OUT/device.txt"
python3 -c "import parallax_pipeline.cli, parallax_pipeline.definitions" || exit 1
timeout "${TESTS_S:-120}" python3 -m pytest -q -p no:cacheprovider tests/engine/parallax/test_warp_torch.py 2>&1 | tail -4 | tee "$OUT/tests.txt"
timeout "${PROFILE_S:-90}" python3 benchmarks/torch_frame_profile.py 2>&1 | tee "$OUT/frame_profile.txt"
timeout "${SPEED_S:-200}" python3 benchmarks/parallax_speed.py --backend torch 2>&1 | tee "$OUT/speed_torch.txt"
timeout "${END_TO_END_S:-260}" python3 benchmarks/project_end_to_end.py 2>&1 | tee "$OUT/end_to_end.txt"
# the CPU renderer on the same machine, for comparison (one repeat: it is the slower one)
timeout "${CPU_SPEED_S:-100}" python3 benchmarks/parallax_speed.py --backend opencv --repeats 1 2>&1 | tee "$OUT/speed_opencv.txt"
