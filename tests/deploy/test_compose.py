"""deploy/compose.yaml read as data (no Docker engine here; `docker compose config` and
`up` were not run): its services, the commands they run and whether the image has them,
and the environment against what the code and the instance files read."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import PurePosixPath

from tests.deploy.deploy_files import DEPLOY, PYPROJECT, REPO, env_references, load_yaml, normalise, pyproject_pins

COMPOSE = load_yaml("compose.yaml")
SERVICES = COMPOSE["services"]
DAGSTER_SERVICES = ["code-server", "webserver", "daemon", "gpu-worker"]
INSTANCE = load_yaml("dagster-compose.yaml")
IMAGE_ROOT = PurePosixPath("/opt/parallax")  # the Dockerfile's WORKDIR, where it copies deploy/


def _resolved(text: str) -> str:
    """A compose value with its ${NAME:-default} / ${NAME:?message} references at their defaults."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}", lambda m: m[2] if m[2] is not None else f"<{m[1]}>", text)


def _option(command: list[str], *names: str) -> str:
    for index, word in enumerate(command):
        if word in names:
            return command[index + 1]
    raise AssertionError(f"none of {names} in {command}")


def test_the_single_host_services_are_there():
    assert {"postgres", "minio", "minio-init", *DAGSTER_SERVICES} <= set(SERVICES)
    assert SERVICES["postgres"]["image"] == "postgres:15"
    assert SERVICES["minio"]["image"].startswith("minio/minio")


def test_dagster_services_run_the_image_the_dockerfile_builds():
    images = {_resolved(SERVICES[name]["image"]) for name in DAGSTER_SERVICES}
    assert len(images) == 1, images
    build = SERVICES["code-server"]["build"]
    assert (DEPLOY / build["context"]).resolve() == REPO
    assert (REPO / build["dockerfile"]) == DEPLOY / "Dockerfile"
    assert set(build.get("args", {})) <= set(re.findall(r"^ARG (\w+)", (DEPLOY / "Dockerfile").read_text(), re.M))


def _console_scripts() -> dict[str, str]:
    """Console script -> the distribution pyproject.toml installs it from."""
    scripts = {}
    for name in list(pyproject_pins()) + ["dagster"]:
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for entry in distribution.entry_points:
            if entry.group == "console_scripts":
                scripts[entry.name] = normalise(name)
    return scripts


def test_every_command_is_installed_in_the_image():
    scripts = _console_scripts()
    for name in DAGSTER_SERVICES:
        program = SERVICES[name]["command"][0]
        if program == "python":
            continue  # the base image's
        assert program in scripts, f"{name}: {program} is installed by no pinned dependency"
        assert scripts[program] in pyproject_pins() or scripts[program] == "dagster"


def test_code_server_serves_the_project_module_for_the_run_image():
    command = [_resolved(word) for word in SERVICES["code-server"]["command"]]
    assert command[:3] == ["dagster", "code-server", "start"]
    module = _option(command, "-m", "--module-name")
    assert module == PYPROJECT["tool"]["dagster"]["module_name"]
    assert importlib.util.find_spec(module) is not None
    assert _option(command, "--location-name") == PYPROJECT["tool"]["dagster"]["code_location_name"]
    assert _option(command, "--container-image") == _resolved(SERVICES["code-server"]["image"])
    port = _option(command, "-p", "--port")
    for name in ("webserver", "daemon"):
        workspace_path = PurePosixPath(_option(SERVICES[name]["command"], "-w", "--workspace"))
        workspace = load_yaml(str(workspace_path.relative_to(IMAGE_ROOT / "deploy")))
        server = workspace["load_from"][0]["grpc_server"]
        assert server["host"] == "code-server" and str(server["port"]) == port
        assert server["location_name"] == _option(command, "--location-name")


def test_environment_is_what_the_instance_and_the_code_read():
    env = SERVICES["code-server"]["environment"]
    for name in DAGSTER_SERVICES:
        assert SERVICES[name]["environment"] == env, f"{name} has another environment"
    assert env_references(INSTANCE) <= set(env)
    assert env["DAGSTER_PG_HOST"] == "postgres"
    code = "\n".join(path.read_text() for path in (REPO / "parallax_pipeline").rglob("*.py"))
    read_by_code = set(re.findall(r"""(?:environ\.get|getenv|environ\[)\(?\s*["'](\w+)["']""", code))
    for variable in env:
        if variable.startswith("PARALLAX_"):
            assert variable in read_by_code, f"{variable} is read by no module of parallax_pipeline"
    assert {"PARALLAX_STORAGE_DIR", "AWS_ENDPOINT_URL"} <= read_by_code


def test_artifact_store_is_the_bucket_minio_init_creates():
    env = {key: _resolved(str(value)) for key, value in SERVICES["code-server"]["environment"].items()}
    storage = re.fullmatch(r"s3://([a-z0-9.\-]+)/(.+)", env["PARALLAX_STORAGE_DIR"])
    assert storage, env["PARALLAX_STORAGE_DIR"]
    init = SERVICES["minio-init"]
    assert _resolved(init["environment"]["PARALLAX_BUCKET"]) == storage[1]
    assert 'mc mb --ignore-existing "local/$$PARALLAX_BUCKET"' in init["command"][0]
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert SERVICES["code-server"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"


def test_secrets_are_required_from_the_environment_not_written_here():
    for service in SERVICES.values():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or "SECRET" in key:
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", str(value)), f"{key}: {value}"


def test_run_containers_get_the_network_volumes_and_env_of_the_services():
    launcher = INSTANCE["run_launcher"]["config"]
    assert launcher["network"] in {network["name"] for network in COMPOSE["networks"].values()}
    assert set(launcher["env_vars"]) <= set(SERVICES["daemon"]["environment"])
    assert env_references(INSTANCE) <= set(launcher["env_vars"])
    volume_names = {volume["name"] for volume in COMPOSE["volumes"].values()}
    mounted = {mount.split(":")[0]: mount.split(":")[1] for mount in SERVICES["code-server"]["volumes"]}
    for volume, bind in launcher["container_kwargs"]["volumes"].items():
        assert volume in volume_names, f"{volume} is not a compose volume with a fixed name"
        assert mounted[volume] == bind["bind"], f"{volume} is mounted elsewhere in the services"
    for name in ("daemon", "webserver"):
        assert "/var/run/docker.sock:/var/run/docker.sock" in SERVICES[name]["volumes"]


def test_gpu_worker_and_run_containers_reserve_the_nvidia_gpu():
    devices = SERVICES["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(device["driver"] == "nvidia" and "gpu" in device["capabilities"] for device in devices)
    requests = INSTANCE["run_launcher"]["config"]["container_kwargs"]["device_requests"]
    assert any(request["driver"] == "nvidia" and ["gpu"] in request["capabilities"] for request in requests)
