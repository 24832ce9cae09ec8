"""docker-compose.yml, read as data: the `cluster` profile is complete and wired to itself.

No Docker engine runs where the tests run, so the file is checked by what it says: every image
pinned, every server with a health check, the Redis Cluster of three masters and three replicas
created by its init job, the profile's web, worker and beat pointed at that cluster and at
RabbitMQ, and the default stack (no profile) depending on nothing of the profile's, so that
``docker compose up`` without ``--profile cluster`` starts as before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings

COMPOSE = Path(settings.BASE_DIR) / "docker-compose.yml"
CLUSTER_APPS = ("web-cluster", "worker-cluster", "beat-cluster", "migrate-cluster")
DEFAULT_APPS = ("web", "worker", "beat", "migrate")
NODES = tuple(f"redis-cluster-{index}" for index in range(1, 7))


def interpolate(value: str) -> str:
    """Compose's ``${NAME:-default}`` with every variable unset (``$$`` is a literal ``$``)."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return value.replace("$$", "$")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def profile(services: dict[str, dict[str, Any]], name: str | None) -> set[str]:
    """The services of profile ``name``; for None, those of no profile (always started)."""
    return {
        service
        for service, spec in services.items()
        if (name in spec.get("profiles", []) if name else not spec.get("profiles"))
    }


def command_text(spec: dict[str, Any]) -> str:
    command = spec["command"]
    return " ".join(command) if isinstance(command, list) else command


def test_every_image_is_pinned_to_a_full_version(services):
    for name, spec in services.items():
        if "image" in spec and "build" not in spec:
            assert re.search(r":v?\d+\.\d+\.\d+(-[a-z]+)?$", spec["image"]), (name, spec["image"])


def test_the_cluster_profile_has_three_masters_three_replicas_and_rabbitmq(services):
    cluster = profile(services, "cluster")
    assert {*NODES, "redis-cluster-init", "rabbitmq", *CLUSTER_APPS} <= cluster
    for node in NODES:
        spec = services[node]
        text = command_text(spec)
        assert "--cluster-enabled yes" in text and "--appendonly yes" in text
        # One failed master must not stop the others' applications; a master cut off from its
        # replica stops acknowledging writes it would lose (README, "Redis Cluster").
        assert "--cluster-require-full-coverage no" in text
        assert "--min-replicas-to-write 1 --min-replicas-max-lag 10" in text
        assert "--maxmemory-policy noeviction" in text
        # Announced by name: the container's hostname is the service's name.
        assert '--cluster-announce-hostname "$$HOSTNAME"' in text
        assert spec["hostname"] == node
        assert "healthcheck" in spec
        assert any(volume.endswith(":/data") for volume in spec["volumes"])
    assert "healthcheck" in services["rabbitmq"]

    init = services["redis-cluster-init"]
    create = command_text(init)
    addresses = r"\s+".join(f"{node}:6379" for node in NODES)
    assert re.search(r"redis-cli --cluster create\s+" + addresses, create)
    assert "--cluster-replicas 1 --cluster-yes" in create
    assert {node: {"condition": "service_healthy"} for node in NODES} == init["depends_on"]


def test_the_cluster_apps_use_the_cluster_rabbitmq_and_a_database_of_their_own(services):
    default_database = interpolate(services["web"]["environment"]["DATABASE_URL"])
    for name in CLUSTER_APPS:
        env = {key: interpolate(str(value)) for key, value in services[name]["environment"].items()}
        nodes = [address.split(":") for address in env["REDIS_CLUSTER_NODES"].split(",")]
        assert [host for host, _ in nodes] == list(NODES) and {port for _, port in nodes} == {
            "6379"
        }, name
        broker = urlsplit(env["CELERY_BROKER_URL"])
        assert (broker.scheme, broker.hostname, broker.port) == ("amqp", "rabbitmq", 5672), name
        rabbit_env = services["rabbitmq"]["environment"]
        assert broker.path == "/" + rabbit_env["RABBITMQ_DEFAULT_VHOST"]
        assert broker.username == interpolate(rabbit_env["RABBITMQ_DEFAULT_USER"])
        assert env["DATABASE_URL"] != default_database, name
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), name  # still required
    for name in ("web-cluster", "worker-cluster", "beat-cluster"):
        depends = services[name]["depends_on"]
        assert depends["redis-cluster-init"] == {"condition": "service_completed_successfully"}
        assert depends["rabbitmq"] == {"condition": "service_healthy"}
        assert depends["migrate-cluster"] == {"condition": "service_completed_successfully"}


def test_the_default_stack_needs_nothing_of_the_cluster_profile(services):
    default = profile(services, None)
    assert {"mysql", "redis", "elasticsearch", "nginx", *DEFAULT_APPS} <= default
    for name in default:
        assert set(services[name].get("depends_on", {})) <= default, name
    for name in DEFAULT_APPS:
        env = services[name]["environment"]
        assert "REDIS_CLUSTER_NODES" not in env and "CELERY_BROKER_URL" not in env, name
    # And every dependency, of either stack, names a service that exists.
    for name, spec in services.items():
        assert set(spec.get("depends_on", {})) <= set(services), name
