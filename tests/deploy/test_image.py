"""deploy/Dockerfile and deploy/install.sh, read as text (no Docker engine here): torch is
installed first and pinned as in pyproject.toml, the project with the `deploy` extra, as a
non-root user with a writable DAGSTER_HOME and numba cache, and no model fetched at build.

Not run here: `docker build`, and install.sh itself (a full install into a fresh venv takes
minutes; only `bash -n` runs)."""

from __future__ import annotations

import re
import shlex
import subprocess

from tests.deploy.deploy_files import DEPLOY, PIN, PYPROJECT, REPO, normalise, pyproject_pins

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
INSTALL = (DEPLOY / "install.sh").read_text()


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _index(predicate) -> int:
    for position, (word, rest) in enumerate(_instructions()):
        if predicate(word, rest):
            return position
    raise AssertionError("no such Dockerfile instruction")


def test_install_script_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(DEPLOY / "install.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_install_script_pins_torch_and_extra_as_pyproject_does():
    torch = re.search(r"^TORCH_VERSION=(\S+)$", INSTALL, re.M)
    assert torch, "install.sh sets no TORCH_VERSION"
    assert torch[1] == pyproject_pins()["torch"]
    extra = re.search(r"^PROJECT_EXTRAS=(\S+)$", INSTALL, re.M)
    assert extra and extra[1] in PYPROJECT["project"]["optional-dependencies"]
    assert "deploy" not in PYPROJECT["project"]["optional-dependencies"]["test"]


def test_install_script_installs_torch_before_the_project():
    all_branch = re.search(r"^\s*all\)(.*);;$", INSTALL, re.M)
    assert all_branch, "install.sh has no `all` step"
    steps = re.findall(r"install_\w+", all_branch[1])
    assert steps == ["install_torch", "install_project"]
    assert '"torch==${TORCH_VERSION}"' in INSTALL
    assert '"${PROJECT_DIR}[${PROJECT_EXTRAS}]"' in INSTALL


def test_every_version_pinned_in_the_image_equals_pyproject():
    pins = pyproject_pins()
    checked = []
    for text in (DOCKERFILE, INSTALL):
        for word in shlex.split(text, comments=True, posix=True):
            match = PIN.match(word.strip("\"'"))
            if match and "$" not in match[2]:
                name = normalise(match[1])
                assert pins.get(name) == match[2], f"{word}: pyproject.toml pins {name}=={pins.get(name)}"
                checked.append(name)
    # torch goes through TORCH_VERSION (checked above); the rest come from pyproject itself.
    assert all(name in pins for name in checked)


def test_dockerfile_installs_torch_in_its_own_layer_before_the_project_source():
    torch = _index(lambda word, rest: word == "RUN" and "install.sh torch" in rest)
    source = _index(lambda word, rest: word == "COPY" and rest.startswith("parallax_pipeline"))
    project = _index(lambda word, rest: word == "RUN" and "install.sh project" in rest)
    assert torch < source < project


def test_dockerfile_base_python_satisfies_requires_python():
    base = _instructions()[0]
    assert base[0] == "FROM" and re.fullmatch(r"python:3\.\d+-slim", base[1]), base
    minor = int(base[1].split(":")[1].split("-")[0].split(".")[1])
    required = re.fullmatch(r">=3\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert required and minor >= int(required[1])


def test_dockerfile_runs_as_a_non_root_user_owning_what_it_writes():
    instructions = _instructions()
    user = _index(lambda word, rest: word == "USER")
    assert instructions[user][1] not in ("root", "0")
    assert all(word != "USER" for word, _ in instructions[user + 1 :]), "a later USER switches back"
    assert all(word != "RUN" for word, _ in instructions[user + 1 :]), "RUN after USER would run unprivileged"
    env = " ".join(rest for word, rest in instructions if word == "ENV")
    for variable in ("DAGSTER_HOME", "NUMBA_CACHE_DIR", "HF_HOME"):
        assert f"{variable}=" in env, f"{variable} not set"
    chown = instructions[user - 1][1]
    for folder in ("$DAGSTER_HOME", "$NUMBA_CACHE_DIR", "$HF_HOME"):
        assert folder in chown, f"{folder} not created in the last RUN before USER"
    assert "chown -R parallax:parallax" in chown and instructions[user][1] == "parallax"
    assert "/var/cache/parallax" in chown  # NUMBA_CACHE_DIR and HF_HOME lie under it
    assert re.search(r"NUMBA_CACHE_DIR=/var/cache/parallax/", env)


def test_image_downloads_no_model_at_build_time():
    commands = [rest for _, rest in _instructions()]
    commands += [line for line in INSTALL.splitlines() if not line.lstrip().startswith("#")]
    for command in commands:
        for forbidden in ("from_pretrained", "snapshot_download", "huggingface-cli", "hf download", "PARALLAX_DEPTH_MODEL"):
            assert forbidden not in command, command


def test_dockerfile_copies_only_what_exists_and_what_the_build_context_keeps():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    kept = {line[1:] for line in ignore if line.startswith("!")}
    assert "*" in ignore, "the context would carry .venv, storage/ and renders/"
    for word, rest in _instructions():
        if word == "COPY":
            *sources, _target = rest.split()
            for source in sources:
                assert (REPO / source).exists(), source
                assert source.split("/")[0] in kept, f"{source} is left out of the build context"
