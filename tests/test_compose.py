"""compose.yaml (issue 27, "Ship the image"): the one-host deployment parses and names only what the
project documents: every STUDIO_* variable is a setting with a valid value, every image is the
project's own (built from the Dockerfile) or a pinned official one named in the README, the bot and
worker run real `studio` commands, Prometheus scrapes the ports the processes serve, and the bucket
step makes the bucket (against moto's S3 server). The Dockerfile copies every package pyproject ships.

No container runs here (no registry can be reached); deploy/build_image.sh builds and smoke-tests
the image itself (bench/RESULTS.md, "Ship the image")."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml  # PyYAML: a dependency of accelerate, transformers and huggingface_hub (the engine extra)

from config.settings import ENV_PREFIX, Settings, env_name, load_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
PROJECT_IMAGE = "portrait-studio-worker"
SERVICES = {"bot", "worker", "postgres", "minio", "prometheus"}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # PyYAML resolves the << merge keys as Compose does


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def interpolated(value: str) -> str:
    """The value Compose would pass when the host sets nothing: ``${X:-default}`` is its default,
    ``${X:?message}`` (must be set) a stand-in of letters and digits, ``${X}`` empty."""
    def one(match: re.Match[str]) -> str:
        if match["op"] in (":-", "-"):
            return match["arg"]
        if match["op"] in (":?", "?"):
            return "Secret123"
        return ""
    return INTERPOLATION.sub(one, value)


def studio_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if svc.get("image") == PROJECT_IMAGE}


def test_the_five_services_of_one_host(compose: dict[str, Any]) -> None:
    assert SERVICES <= set(compose["services"]), sorted(SERVICES - set(compose["services"]))
    assert {"bot", "worker"} <= set(studio_services(compose))


def test_every_studio_variable_is_a_setting_and_its_value_valid(compose: dict[str, Any]) -> None:
    known = {env_name(field) for field in Settings.model_fields}
    assert all(name.startswith(ENV_PREFIX) for name in known)
    text = COMPOSE.read_text()
    # Host variables it reads, e.g. ${STUDIO_TELEGRAM_TOKEN:-}: settings too (the .env a person writes)
    read = {m["name"] for m in INTERPOLATION.finditer(text) if m["name"].startswith(ENV_PREFIX)}
    assert not read - known, f"not settings: {sorted(read - known)}"
    for name, service in compose["services"].items():
        env = environment(service)
        unknown = sorted(key for key in env if key.startswith(ENV_PREFIX) and key not in known)
        assert not unknown, f"{name}: not settings: {unknown}"
        values = {key.removeprefix(ENV_PREFIX).lower(): interpolated(value)
                  for key, value in env.items() if key.startswith(ENV_PREFIX)}
        if values:
            load_settings(_env_file=None, **values)  # a bad value raises ConfigError naming it


def test_the_database_and_storage_are_the_compose_services(compose: dict[str, Any]) -> None:
    for name, service in studio_services(compose).items():
        env = {k: interpolated(v) for k, v in environment(service).items()}
        assert urlsplit(env["STUDIO_DATABASE_URL"]).hostname == "postgres", name
        assert env["STUDIO_DATABASE_URL"].startswith("postgresql+asyncpg://"), name
        assert env["STUDIO_STORAGE_BACKEND"] == "s3", name
        assert urlsplit(env["STUDIO_S3_ENDPOINT_URL"]).hostname == "minio", name
        minio = environment(compose["services"]["minio"])
        assert env["STUDIO_S3_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"], name
        assert env["STUDIO_S3_SECRET_ACCESS_KEY"] == interpolated(minio["MINIO_ROOT_PASSWORD"]), name
    postgres = environment(compose["services"]["postgres"])
    url = urlsplit(interpolated(environment(compose["services"]["worker"])["STUDIO_DATABASE_URL"]))
    assert (url.username, url.password, url.path.lstrip("/")) == (
        postgres["POSTGRES_USER"], interpolated(postgres["POSTGRES_PASSWORD"]), postgres["POSTGRES_DB"])


def test_images_are_the_projects_own_or_pinned_ones_the_readme_names(compose: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    builders = []
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"{name}: no image"
        if image == PROJECT_IMAGE:
            assert service.get("pull_policy") == "never", f"{name}: the project's image is built, never pulled"
            if "build" in service:
                builders.append(name)
            continue
        assert "build" not in service, name
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag and tag not in ("", "latest"), f"{name}: {image} is not pinned"
        assert "$" not in image, f"{name}: {image}"
        assert f"`{image}`" in readme, f"{name}: {image} is not named in README.md"
    assert builders == ["bot"], builders
    build = compose["services"]["bot"]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).resolve() == ROOT / "Dockerfile"


def studio_command(words: list[str]) -> Any:
    """The command ``studio WORDS...`` would run, its arguments and options parsed (a wrong
    subcommand or option raises the usage error, exit code 2); nothing is run. Typer brings its own
    copy of click, so its classes are reached through the command objects, not imported."""
    from studio.cli import app

    command = typer.main.get_command(app)
    words = list(words)
    while hasattr(command, "list_commands"):  # a group: `studio`, `studio db`, `studio models`
        assert words, "a group without a subcommand"
        sub = command.get_command(command.context_class(command), words[0])
        assert sub is not None, f"no such studio command: {words[0]}"
        command, words = sub, words[1:]
    command.make_context(command.name or "studio", words)
    return command


def test_bot_and_worker_run_real_studio_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["bot"]["command"] == ["studio", "run"]
    assert services["worker"]["command"][:2] == ["studio", "worker"]
    assert "--once" not in services["worker"]["command"]
    for name, service in studio_services(compose).items():
        command = service.get("command")
        assert isinstance(command, list) and command, f"{name}: the command is a list (no shell)"
        if name == "bucket":
            assert command[:2] == ["python", "-c"]
            continue
        assert command[0] == "studio", name
        studio_command(command[1:])
    for wrong in (["worker", "--no-such-option"], ["worker", "extra"], ["no-such-command"]):
        with pytest.raises((Exception, AssertionError)) as error:
            studio_command(wrong)
        assert isinstance(error.value, AssertionError) or getattr(error.value, "exit_code", None) == 2, wrong


def test_the_gpu_services_reserve_the_gpu_and_stop_gracefully(compose: dict[str, Any]) -> None:
    for name in ("bot", "worker"):  # `studio run` starts a worker child: both load the model
        service = compose["services"][name]
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert any("gpu" in device.get("capabilities", []) for device in devices), name
        assert environment(service)["STUDIO_DEVICE"] == "cuda", name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert service["depends_on"]["bucket"]["condition"] == "service_completed_successfully", name


def test_prometheus_scrapes_the_ports_the_processes_serve(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in prometheus["volumes"]}
    config_file = ROOT / mounted["/etc/prometheus/prometheus.yml"]
    config = yaml.safe_load(config_file.read_text())
    port = int(environment(compose["services"]["bot"])["STUDIO_METRICS_PORT"])
    assert int(environment(compose["services"]["worker"])["STUDIO_METRICS_PORT"]) == port
    child = load_settings(_env_file=None, metrics_port=port).child_worker_metrics_port
    static, dns = set(), set()
    for job in config["scrape_configs"]:
        static |= {target for group in job.get("static_configs", []) for target in group["targets"]}
        dns |= {(name, group["port"]) for group in job.get("dns_sd_configs", []) for name in group["names"]}
    assert static == {f"bot:{port}", f"bot:{child}"}  # the bots, the worker child of `studio run`
    assert dns == {("worker", port)}                  # every replica of the worker service
    hosts = {target.split(":")[0] for target in static} | {name for name, _ in dns}
    assert hosts <= set(compose["services"])


def test_the_bucket_step_makes_the_bucket_once(compose: dict[str, Any]) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    service = compose["services"]["bucket"]
    code = service["command"][2]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {key: interpolated(value) for key, value in environment(service).items()}
        env["STUDIO_S3_ENDPOINT_URL"] = f"http://{host}:{port}"
        env["STUDIO_S3_BUCKET"] = "compose-bucket-step"  # moto's buckets are this process's: other tests' are there too
        run_env = {**{k: v for k, v in os.environ.items() if not k.startswith(("STUDIO_", "AWS_"))}, **env}
        for _ in range(2):  # a second `up` finds it there
            done = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True, text=True,
                                  timeout=120)
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == f"bucket {env['STUDIO_S3_BUCKET']} ready"
        s3 = boto3.client("s3", endpoint_url=env["STUDIO_S3_ENDPOINT_URL"], region_name=env["STUDIO_S3_REGION"],
                          aws_access_key_id=env["STUDIO_S3_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["STUDIO_S3_SECRET_ACCESS_KEY"])
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]].count(env["STUDIO_S3_BUCKET"]) == 1
    finally:
        server.stop()


def test_the_dockerfile_copies_every_package_pyproject_ships() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) \./\1$", dockerfile, flags=re.MULTILINE))
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {path.name for path in ROOT.iterdir()
                if (path / "__init__.py").is_file() and any(fnmatch.fnmatch(path.name, p) for p in patterns)}
    assert packages, patterns
    assert not packages - copied, f"the image lacks {sorted(packages - copied)}: add COPY lines to the Dockerfile"


def test_the_build_context_keeps_secrets_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "data"} <= set(ignored)
