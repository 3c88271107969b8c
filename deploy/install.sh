#!/usr/bin/env bash
# The image's install steps (deploy/Dockerfile runs this script), kept as a script so they
# can be run without a Docker engine: into any Python 3.11 environment, from the repository
# root (or PROJECT_DIR).
#
#   bash deploy/install.sh torch      # step 1: torch alone (its own image layer)
#   bash deploy/install.sh project    # step 2: the project with the `deploy` extra
#   bash deploy/install.sh            # both, in that order
#
# torch goes first and pinned: with no torch installed, the project's looser resolution
# would pull the default (multi-GB CUDA) build even for a CPU image.
#   TORCH_VARIANT   cpu (default) or a CUDA tag of PyTorch's index (e.g. cu128)
#   TORCH_INDEX_URL default https://download.pytorch.org/whl/$TORCH_VARIANT; set it empty
#                   to take torch from the ordinary index (pip's own configuration)
#   PYTHON          the interpreter whose environment receives the packages (default python3)
# The versions below must equal pyproject.toml's pins (tests/deploy checks it).
set -euo pipefail

TORCH_VERSION=2.13.0
PROJECT_EXTRAS=deploy
PYTHON=${PYTHON:-python3}
PROJECT_DIR=${PROJECT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TORCH_VARIANT=${TORCH_VARIANT:-cpu}
TORCH_INDEX_URL=${TORCH_INDEX_URL-https://download.pytorch.org/whl/${TORCH_VARIANT}}
PIP=("$PYTHON" -m pip install --no-cache-dir --disable-pip-version-check)

install_torch() {
  if [ -n "$TORCH_INDEX_URL" ]; then
    "${PIP[@]}" --index-url "$TORCH_INDEX_URL" "torch==${TORCH_VERSION}"
  else
    "${PIP[@]}" "torch==${TORCH_VERSION}"
  fi
  # Fails the build here, not at the first depth step, when the wheel did not install.
  "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
}

install_project() {
  # A regular (non-editable) install: the image carries no source tree to edit. pip builds
  # the wheel in the source tree; its build/ folder is removed unless it was there before.
  local had_build=0
  [ -e "${PROJECT_DIR}/build" ] && had_build=1
  "${PIP[@]}" "${PROJECT_DIR}[${PROJECT_EXTRAS}]"
  [ "$had_build" = 1 ] || rm -rf "${PROJECT_DIR}/build"
  "$PYTHON" -c "import dagster, dagster_postgres, dagster_docker, dagster_k8s, dagster_celery, parallax_pipeline; print('dagster', dagster.__version__)"
}

case "${1:-all}" in
  torch) install_torch ;;
  project) install_project ;;
  all) install_torch; install_project ;;
  *) echo "usage: $0 [torch|project|all]" >&2; exit 2 ;;
esac
