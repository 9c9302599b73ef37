"""The Kubernetes manifests in infra/k8s render with ``kubectl kustomize`` for every overlay and
every object is valid against the Kubernetes API schemas (``kubernetes-validate``, strict: no
unknown fields). Custom resources have no schema there and are skipped, by name: the
CloudNativePG ``Cluster`` (postgresql.cnpg.io/v1) only.
"""

from __future__ import annotations

import functools
import importlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from infra.settings import ServiceSettings

K8S = Path(__file__).resolve().parents[2] / "infra" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
# The oldest Kubernetes we claim: autoscaling/v2 and policy/v1 are GA from 1.25 on.
KUBERNETES = "1.25"
CUSTOM_RESOURCES = {("postgresql.cnpg.io/v1", "Cluster")}
SECRETS_MADE_OUTSIDE = {"aischool-hash-secret", "aischool-postgres-app", "aischool-upstream-keys"}
SERVICES = ("gateway", "keys", "ledger", "documents")


@functools.cache
def kustomize(overlay: str) -> str:
    """What ``kubectl kustomize`` prints for one overlay (rendered once per test run)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl not found: `make install` installs Debian's kubernetes-client")
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def render(overlay: str) -> list[dict[str, Any]]:
    """The objects of one overlay, fresh for each caller."""
    return [doc for doc in yaml.safe_load_all(kustomize(overlay)) if doc]


def containers(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    workload = next(
        o
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"]["name"] == name
    )
    [container] = workload["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_both_overlays_exist() -> None:
    assert OVERLAYS == ["large", "small"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_is_valid_kubernetes(overlay: str) -> None:
    skipped = set()
    for obj in render(overlay):
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            skipped.add((obj["apiVersion"], obj["kind"]))
        except kubernetes_validate.ValidationError as error:
            pytest.fail(
                f"{obj['kind']}/{obj['metadata']['name']}: {error.message} at {list(error.path)}"
            )
    assert skipped == CUSTOM_RESOURCES, "only the CloudNativePG Cluster may go unvalidated"


def test_the_validator_rejects_an_unknown_field() -> None:
    """A misspelt field is an error, so a green run above means something."""
    [deployment] = [
        o
        for o in render("small")
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "ledger"
    ]
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_are_probed_by_healthz_and_readyz_and_sized(overlay: str) -> None:
    objects = render(overlay)
    for name in SERVICES:
        container = containers(objects, name)
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    [hpa] = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "gateway"
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_from_kubernetes_secrets_and_none_is_committed(overlay: str) -> None:
    objects = render(overlay)
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "Secret"] == []
    for name in SERVICES:
        env = {e["name"]: e for e in containers(objects, name).get("env", [])}
        assert set(env["AISCHOOL_HASH_SECRET"]["valueFrom"]) == {"secretKeyRef"}
        if name in ("keys", "ledger"):
            ref = env["AISCHOOL_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == ("aischool-postgres-app", "uri")
        for item in env.values():
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            assert ref is None or ref["name"] in SECRETS_MADE_OUTSIDE


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_named_is_one_the_service_reads(overlay: str) -> None:
    """A misspelt AISCHOOL_ variable would be ignored silently by pydantic-settings."""
    objects = render(overlay)
    [config] = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "aischool-config"
    ]
    shared = set(config["data"])
    for name in SERVICES:
        module = importlib.import_module(f"services.{name}.settings")
        settings = next(
            v
            for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, ServiceSettings) and v is not ServiceSettings
        )
        known = {f"AISCHOOL_{field.upper()}" for field in settings.model_fields}
        named = {e["name"] for e in containers(objects, name).get("env", [])}
        assert named - known == set(), f"{name} does not read {named - known}"
        shared -= known
    assert shared == set(), f"no service reads {shared}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_is_a_three_node_jetstream_cluster_and_streams_keep_three_replicas(
    overlay: str,
) -> None:
    objects = render(overlay)
    [nats] = [o for o in objects if o["kind"] == "StatefulSet"]
    assert nats["spec"]["replicas"] == 3
    assert nats["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    conf = next(o for o in objects if o["metadata"]["name"] == "nats-config")["data"]["nats.conf"]
    assert conf.count("nats-headless:6222") == 3 and "jetstream" in conf
    config = next(o for o in objects if o["metadata"]["name"] == "aischool-config")
    assert config["data"]["AISCHOOL_STREAM_REPLICAS"] == "3"
    [postgres] = [o for o in objects if o["kind"] == "Cluster"]
    assert postgres["spec"]["instances"] == (1 if overlay == "small" else 3)
