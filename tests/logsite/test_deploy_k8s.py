"""k8s/base: rendered by `kubectl kustomize`, validated against the Kubernetes API schemas."""

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.30.0"  # the oldest version still common on clusters; the schemas are offline


@pytest.fixture(scope="module")
def resources() -> dict[tuple[str, str], dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render the kustomization (Debian: apt-get install kubectl)"
    rendered = subprocess.run(
        [kubectl, "kustomize", str(BASE_DIR / "k8s" / "base")], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    documents = [document for document in yaml.safe_load_all(rendered) if document]
    return {(document["kind"], document["metadata"]["name"]): document for document in documents}


def deployment(resources, component: str) -> dict:
    return resources[("Deployment", f"logretrieval-{component}")]


def test_every_resource_passes_the_kubernetes_schema_strictly(resources):
    for document in resources.values():
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)

    assert {kind for kind, _ in resources} == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}


def test_web_worker_and_beat_run_the_image_as_non_root_with_config_and_secret(resources):
    for component in ("web", "worker", "beat"):
        pod = deployment(resources, component)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        container = pod["containers"][0]
        assert container["image"] == "registry.example.com/logretrieval:latest"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        sources = {next(iter(source.values()))["name"] for source in container["envFrom"]}
        config_map = next(name for kind, name in resources if kind == "ConfigMap")
        assert sources == {config_map, "logretrieval-secrets"}  # the generated name, hash included


def test_beat_is_a_single_replica_never_two_during_a_rollout(resources):
    beat = deployment(resources, "beat")["spec"]

    assert beat["replicas"] == 1
    assert beat["strategy"] == {"type": "Recreate"}
    assert "beat" in beat["template"]["spec"]["containers"][0]["command"]


def test_web_is_ready_on_readyz_migrates_first_and_is_scraped(resources):
    web = deployment(resources, "web")["spec"]["template"]
    container = web["spec"]["containers"][0]

    # SQL and MongoDB only: a broker or object-storage outage takes no web pod out of rotation.
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "tcpSocket" in container["livenessProbe"]  # a database outage must not restart the pods
    assert "migrate" in " ".join(web["spec"]["initContainers"][0]["command"])
    assert web["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    service = resources[("Service", "logretrieval-web")]["spec"]
    assert service["selector"]["app.kubernetes.io/component"] == "web"


def test_no_secret_value_is_in_the_config_map(resources):
    config = next(document for (kind, _), document in resources.items() if kind == "ConfigMap")["data"]

    assert config["DEBUG"] == "false"
    assert not {"SECRET_KEY", "METRICS_TOKEN", "DATABASE_URL", "MONGODB_URI", "AWS_SECRET_ACCESS_KEY"} & set(config)
