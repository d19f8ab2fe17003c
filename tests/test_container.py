"""The container image and the deployment examples, without a Docker engine: the
Dockerfile's exact ENTRYPOINT, CMD and HEALTHCHECK run here, with the environment it
sets and its paths (/config, /data, /run/secrets) moved into a temporary folder."""

from __future__ import annotations

import json
import shlex
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from crossposter.cli import build_parser, main

from support.feed_server import FeedServer
from support.feeds import rss
from support.mastodon_api import MastodonAPI
from support.stopping import terminate_when, terminate_when_exists

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CONTAINER_PATHS = ("/config", "/data", "/run/secrets")


@dataclass
class Dockerfile:
    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    user: str = ""
    volumes: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)


def read_dockerfile(path: Path = ROOT / "Dockerfile") -> Dockerfile:
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    instructions = " \n".join(lines).replace("\\ \n", " ").splitlines()
    image = Dockerfile()
    for instruction in filter(str.strip, instructions):
        keyword, _, rest = instruction.strip().partition(" ")
        rest = rest.strip()
        if keyword == "FROM":
            image.base = rest
        elif keyword == "ENV":
            image.env.update(pair.split("=", 1) for pair in shlex.split(rest))
        elif keyword == "USER":
            image.user = rest
        elif keyword == "VOLUME":
            image.volumes = json.loads(rest)
        elif keyword == "RUN":
            image.runs.append(rest)
        elif keyword == "ENTRYPOINT":
            image.entrypoint = json.loads(rest)
        elif keyword == "CMD":
            image.cmd = json.loads(rest)
        elif keyword == "EXPOSE":
            image.exposed = rest.split()
        elif keyword == "HEALTHCHECK":
            image.healthcheck = json.loads(rest[rest.index("CMD ") + 4 :])
    return image


def remap(value: str, root: Path) -> str:
    for container_path in CONTAINER_PATHS:
        if value == container_path or value.startswith(container_path + "/"):
            return str(root / container_path.lstrip("/")) + value[len(container_path) :]
    return value


def crossposter_argv(command: list[str], root: Path, listen: str = "127.0.0.1:0") -> list[str]:
    """`command` with the container's paths under `root`, listening on `listen` instead
    of all of the container's addresses (here, this machine's)."""
    assert command[0] == "crossposter", command
    argv = [remap(argument, root) for argument in command[1:]]
    if "--listen" in argv:
        argv[argv.index("--listen") + 1] = listen
    return argv


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


IMAGE = read_dockerfile()


# -- what the image is ------------------------------------------------------------


def test_the_image_is_a_slim_python_with_pinned_dependencies():
    assert IMAGE.base.startswith("python:3.11") and "slim" in IMAGE.base
    assert any("-c constraints.txt" in run for run in IMAGE.runs)


def test_it_runs_as_a_non_root_user_with_the_state_in_a_volume():
    assert IMAGE.user not in ("", "0", "root")
    assert IMAGE.volumes == ["/data"]
    assert IMAGE.env["CROSSPOSTER_STATE_FILE"].startswith("/data/")


def test_its_default_command_is_the_loop_and_its_healthcheck_asks_health():
    command = IMAGE.entrypoint + IMAGE.cmd
    assert command[:3] == ["crossposter", "run", "--loop"]
    assert IMAGE.healthcheck[:2] == ["crossposter", "health"]
    config = command[command.index("--config") + 1]
    assert IMAGE.healthcheck[IMAGE.healthcheck.index("--config") + 1] == config


def test_the_image_listens_on_every_address_of_the_container_on_8080():
    command = IMAGE.entrypoint + IMAGE.cmd
    assert command[command.index("--listen") + 1] == "0.0.0.0:8080"
    assert IMAGE.exposed == ["8080"]
    assert any(
        '"crossposter[postgres,listen]"' in run or ".[postgres,listen]" in run for run in IMAGE.runs
    )


def test_the_token_comes_from_a_secret_file():
    assert IMAGE.env["CROSSPOSTER_ACCESS_TOKEN_FILE"].startswith("/run/secrets/")
    assert not any("ACCESS_TOKEN=" in run for run in IMAGE.runs)
    assert "CROSSPOSTER_ACCESS_TOKEN" not in IMAGE.env


# -- the image's command lines, run here --------------------------------------------


@pytest.fixture
def container(tmp_path, monkeypatch):
    """The container's world under tmp_path: its env, a mounted config and a secret."""
    root = tmp_path / "container"
    with MastodonAPI() as api, FeedServer() as feeds:
        feeds.set_feed(
            "/feed",
            rss([{"title": "Bonjour", "link": "https://blog.example.org/1/", "guid": "p1"}]),
        )
        for name, value in IMAGE.env.items():
            monkeypatch.setenv(name, remap(value, root))
        config = Path(remap("/config/feeds.yaml", root))
        config.parent.mkdir(parents=True)
        config.write_text(
            f"instance: {api.base_url}\n"
            f"feeds:\n  - {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}\n"
        )
        secret = Path(remap(IMAGE.env["CROSSPOSTER_ACCESS_TOKEN_FILE"], root))
        secret.parent.mkdir(parents=True)
        secret.write_text("test-token\n")
        Path(remap("/data", root)).mkdir()
        yield api, root


def test_the_image_command_posts_keeps_state_in_data_and_turns_healthy(container):
    api, root = container
    healthcheck = crossposter_argv(IMAGE.healthcheck, root)
    assert main(healthcheck) == 1

    heartbeat = Path(remap(IMAGE.env["CROSSPOSTER_STATE_FILE"], root) + ".heartbeat")
    watcher = terminate_when_exists(heartbeat)
    assert main(crossposter_argv(IMAGE.entrypoint + IMAGE.cmd, root)) == 0
    watcher.join()

    assert len(api.statuses) == 1 and "Bonjour" in api.status_texts()[0]
    assert Path(remap(IMAGE.env["CROSSPOSTER_STATE_FILE"], root)).is_file()
    assert main(healthcheck) == 0


def test_without_the_secret_the_image_says_how_to_give_the_token(container, capsys):
    _, root = container
    secret = remap(IMAGE.env["CROSSPOSTER_ACCESS_TOKEN_FILE"], root)
    Path(secret).unlink()
    assert main(crossposter_argv(IMAGE.entrypoint + IMAGE.cmd, root)) == 2
    assert (
        "no access token: pass CROSSPOSTER_ACCESS_TOKEN or mount the secret at " + secret
    ) in capsys.readouterr().err


# -- the deployment examples ---------------------------------------------------------


def yaml_documents(path: Path) -> list:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda path: path.name)
def test_every_yaml_example_parses(path):
    assert yaml_documents(path)


def test_the_compose_service_mounts_what_the_image_expects():
    compose = yaml_documents(EXAMPLES / "compose.yaml")[0]
    service = compose["services"]["crossposter"]
    # Compose reads relative paths from the compose file's folder, and the README runs
    # `docker compose -f examples/compose.yaml` in the checkout, where feeds.yaml is.
    assert (EXAMPLES / service["build"] / "Dockerfile").is_file()
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in service["volumes"])
    config = next(source for source, target in mounts.items() if target == "/config/feeds.yaml")
    assert (EXAMPLES / config).resolve() == ROOT / "feeds.yaml"
    assert "/config/feeds.yaml:ro" in " ".join(service["volumes"])
    data = next(source for source, target in mounts.items() if target == "/data")
    # The volume the README's `docker run` uses and tells to back up.
    assert compose["volumes"][data]["name"] == "crossposter-data"
    # A file secret is bind-mounted with its owner and mode: the 0600 file `crossposter
    # login` writes could not be read by the image's user. The token comes from the
    # environment of `docker compose up`, and compose refuses to start without it.
    assert "secrets" not in service
    assert service["environment"]["CROSSPOSTER_ACCESS_TOKEN"].startswith(
        "${CROSSPOSTER_ACCESS_TOKEN:?"
    )


def test_the_kubernetes_cronjob_mounts_what_the_image_expects():
    documents = {
        document["kind"]: document for document in yaml_documents(EXAMPLES / "kubernetes.yaml")
    }
    job = documents["CronJob"]
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    build_parser().parse_args(container["args"])
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "persistentVolumeClaim" in volumes[mounts["/data"]]
    assert "configMap" in volumes[mounts["/config"]]
    token_file = Path(IMAGE.env["CROSSPOSTER_ACCESS_TOKEN_FILE"])
    assert "secret" in volumes[mounts[str(token_file.parent)]]
    assert pod["securityContext"]["runAsUser"] == int(IMAGE.user)
    # Kubernetes mounts the service account's token under /run/secrets (/var/run is /run
    # in Debian): over a read-only secret volume at /run/secrets, the pod cannot start.
    assert pod["automountServiceAccountToken"] is False


def kubernetes_postgres_documents() -> list[dict]:
    return yaml_documents(EXAMPLES / "kubernetes-postgres.yaml")


def kubernetes_postgres() -> tuple[dict, dict]:
    """The Deployment of examples/kubernetes-postgres.yaml, and its pod's container."""
    deployment = kubernetes_postgres_documents()[0]
    assert deployment["kind"] == "Deployment"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, container


def pod_environment(container: dict, secrets: dict[str, dict[str, str]], pod: str) -> dict:
    """The container's environment as Kubernetes fills it in, for the pod named `pod`."""
    environment = {}
    for variable in container["env"]:
        source = variable.get("valueFrom", {})
        if "secretKeyRef" in source:
            reference = source["secretKeyRef"]
            environment[variable["name"]] = secrets[reference["name"]][reference["key"]]
        elif "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "metadata.name", variable
            environment[variable["name"]] = pod
        else:
            environment[variable["name"]] = variable["value"]
    return environment


def test_the_kubernetes_deployment_runs_replicas_of_the_image_s_loop_on_a_database():
    deployment, container = kubernetes_postgres()
    assert deployment["spec"]["replicas"] >= 2
    arguments = build_parser().parse_args(container["args"])
    assert (arguments.command, arguments.loop) == ("run", True)
    assert arguments.config == IMAGE.cmd[IMAGE.cmd.index("--config") + 1]
    sources = {variable["name"]: variable["valueFrom"] for variable in container["env"]}
    assert "secretKeyRef" in sources["CROSSPOSTER_STATE_URL"]
    assert "secretKeyRef" in sources["CROSSPOSTER_WEBHOOK_SECRET"]
    assert sources["CROSSPOSTER_WORKER_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    pod = deployment["spec"]["template"]["spec"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "configMap" in volumes[mounts["/config"]]
    token_file = Path(IMAGE.env["CROSSPOSTER_ACCESS_TOKEN_FILE"])
    assert "secret" in volumes[mounts[str(token_file.parent)]]
    assert pod["securityContext"]["runAsUser"] == int(IMAGE.user)
    assert pod["automountServiceAccountToken"] is False
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_kubernetes_probes_scrape_and_service_reach_the_listener():
    deployment, container = kubernetes_postgres()
    arguments = build_parser().parse_args(container["args"])
    host, port = arguments.listen
    assert host == "0.0.0.0"
    (named,) = container["ports"]
    assert (named["containerPort"], named["name"]) == (port, "http")
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    documents = {document["kind"]: document for document in kubernetes_postgres_documents()}
    service = documents["Service"]
    assert (
        service["spec"]["selector"].items() <= deployment["spec"]["selector"]["matchLabels"].items()
    )
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == "http"
    paths = {
        path["path"]: path["backend"]["service"]
        for rule in documents["Ingress"]["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    # Only what the blog and a hub call is public: not the metrics, nor the probes.
    assert set(paths) == {"/feeds/", "/websub/"}
    for backend in paths.values():
        assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}


def test_a_kubernetes_replica_posts_keeps_state_in_the_database_and_turns_ready(
    container, request, monkeypatch
):
    from support.postgres import fresh_database

    api, root = container
    server = request.getfixturevalue("postgres_server")
    database = fresh_database(server, f"t_{uuid.uuid4().hex[:16]}")
    _, spec = kubernetes_postgres()
    pod = "crossposter-5d8c7f9b6-x2x7q"
    # The secrets the example's comment has one create.
    secrets = {"crossposter-state": {"url": database}, "crossposter-webhook": {"secret": "s"}}
    for name, value in pod_environment(spec, secrets, pod).items():
        monkeypatch.setenv(name, value)
    port = free_loopback_port()

    def probe(kind: str) -> int:
        path = spec[kind]["httpGet"]["path"]
        try:
            return requests.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code
        except requests.ConnectionError:
            return 0

    answers: dict[str, int] = {}

    def ready() -> bool:
        if probe("readinessProbe") != 200:
            return False
        answers["liveness"] = probe("livenessProbe")
        return True

    watcher = terminate_when(ready)
    argv = crossposter_argv(["crossposter", *spec["args"]], root, listen=f"127.0.0.1:{port}")
    assert main(argv) == 0
    watcher.join()

    assert answers == {"liveness": 200}
    assert len(api.statuses) == 1 and "Bonjour" in api.status_texts()[0]
    assert not Path(remap(IMAGE.env["CROSSPOSTER_STATE_FILE"], root)).exists()
    # `health` stays for cron and Docker's HEALTHCHECK: the heartbeat is in the database.
    assert main(crossposter_argv(IMAGE.healthcheck, root)) == 0


def test_the_compose_postgres_services_start_crossposter_once_the_database_is_ready():
    compose = yaml_documents(EXAMPLES / "compose-postgres.yaml")[0]
    database, service = compose["services"]["postgres"], compose["services"]["crossposter"]
    assert database["image"].startswith("postgres:")
    assert database["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    mounts = dict(volume.split(":", 1)[::-1] for volume in database["volumes"])
    data = mounts["/var/lib/postgresql/data"]
    assert data in compose["volumes"]
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    environment = service["environment"]
    url = environment["CROSSPOSTER_STATE_URL"]
    assert url.startswith("postgresql://") and "@postgres:" in url
    assert environment["CROSSPOSTER_WORKER_ID"]
    # The same database user and name as the server creates, its password the same variable.
    user = database["environment"]["POSTGRES_USER"]
    assert url == f"postgresql://{user}@postgres:5432/{database['environment']['POSTGRES_DB']}"
    assert environment["PGPASSWORD"] == database["environment"]["POSTGRES_PASSWORD"]
    assert (EXAMPLES / service["build"] / "Dockerfile").is_file()
    assert "../feeds.yaml:/config/feeds.yaml:ro" in service["volumes"]
    assert service["environment"]["CROSSPOSTER_ACCESS_TOKEN"].startswith(
        "${CROSSPOSTER_ACCESS_TOKEN:?"
    )


def command_lines() -> list[tuple[str, list[str]]]:
    """Each crossposter command line an example runs, without the program's path."""
    found = []
    cron = (EXAMPLES / "crontab").read_text()
    for line in cron.splitlines():
        if line and not line.startswith("#"):
            found.append(("crontab", shlex.split(line)[5:]))
    service = (EXAMPLES / "systemd" / "crossposter.service").read_text()
    for line in service.splitlines():
        if line.startswith("ExecStart="):
            found.append(("crossposter.service", shlex.split(line.removeprefix("ExecStart="))))
    return found


@pytest.mark.parametrize(("where", "command"), command_lines(), ids=lambda value: str(value))
def test_example_command_lines_are_valid_crossposter_commands(where, command):
    assert command[0].endswith("/crossposter"), where
    arguments = build_parser().parse_args(command[1:])
    assert arguments.command == "run"
