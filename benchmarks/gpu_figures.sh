#!/usr/bin/env bash
# Issue #17's GPU figures in one go, on a machine whose python3 has torch with CUDA:
# the torch warp against the OpenCV path on CUDA (tests), a CUDA frame's profile,
# `parallax_speed.py --backend torch`, `project_end_to_end.py` (which takes CUDA by
# itself) and, for comparison, `parallax_speed.py` on the CPU renderer. Each step has its own
# time limit and writes its output under $OUT (default ./gpu-figures).
#
# A machine without the project's other dependencies and without a package index can be
# given them as wheels in .whl/ (Python 3.12, manylinux x86-64; see docs/parallax.md):
# they are installed with --no-deps into a private folder, not into the system.
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
