"""deploy/k8s and docker-compose.yml, checked offline: core Kubernetes objects against the
schemas the pinned kubernetes-validate ships, KEDA ScaledObjects and the Compose file against
the schemas kept in deploy/schemas; the queue triggers against the services' real queues; the
environment against what the local stack sets and what the README documents."""
import copy
import importlib
import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from nameko.containers import ServiceContainer
from nameko.rpc import Rpc

from deploy.local import stack
from services.common.observability import queues_of

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = ROOT / "deploy" / "schemas"
KUBERNETES_VERSION = "1.33.0"
NAMEKO = ("intake", "routing", "sla", "search", "automation")
DEPLOYED = NAMEKO + ("portal", "smtp")
# Set by the local stack for itself and its tests only (README: "not meant to be set by hand").
LOCAL_ONLY = {"HELPDESK_PROFILE", "HELPDESK_STATE_DIR", "HELPDESK_RABBIT_MGMT_URL"}


def _documents() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


DOCS = _documents()


def _of(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in DOCS if d["kind"] == kind}


def _validator(name: str):
    schema = json.loads((SCHEMAS / name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _check(doc: dict) -> None:
    if doc["apiVersion"].startswith("keda.sh/"):
        _validator("keda-scaledobject.json").validate(doc)
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_each_manifest_passes_its_schema(doc):
    _check(doc)


@pytest.mark.parametrize("break_it", [
    lambda d: d["spec"]["template"]["spec"]["containers"][0].update(bogus=1),
    lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"].update(
        requests="lots"),
])
def test_the_kubernetes_validator_refuses_a_broken_deployment(break_it):
    broken = copy.deepcopy(_of("Deployment")["intake"])
    break_it(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        _check(broken)


@pytest.mark.parametrize("break_it", [
    lambda d: d["spec"].pop("triggers"),
    lambda d: d["spec"]["triggers"][0]["metadata"].update(value=50),  # must be a string
    lambda d: d["spec"].update(maxReplicas=3),  # HPA spelling, not KEDA's
])
def test_the_keda_schema_refuses_a_broken_scaled_object(break_it):
    broken = copy.deepcopy(_of("ScaledObject")["routing"])
    break_it(broken)
    with pytest.raises(jsonschema.ValidationError):
        _check(broken)


def test_every_service_has_a_deployment_service_budget_and_autoscaler():
    deployments, services, budgets = _of("Deployment"), _of("Service"), _of("PodDisruptionBudget")
    scaled, hpas = _of("ScaledObject"), _of("HorizontalPodAutoscaler")
    assert set(deployments) == set(DEPLOYED)
    assert set(DEPLOYED) <= set(services) and set(budgets) == set(DEPLOYED)
    assert set(scaled) == set(NAMEKO) and set(hpas) == {"portal"}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"][
            "labels"].items(), name
        assert budgets[name]["spec"]["selector"] == deployment["spec"]["selector"], name
        (container,) = pod["spec"]["containers"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
        assert container["livenessProbe"] and container["readinessProbe"], name
        env = {e["name"] for e in container["env"]}
        assert {"HELPDESK_AMQP_URI", "HELPDESK_MONGO_URI", "HELPDESK_SERVICE_NAME"} <= env, name
    for name in NAMEKO + ("portal",):
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
    for name in NAMEKO:
        assert scaled[name]["spec"]["scaleTargetRef"]["name"] == name
        kinds = {t["type"] for t in scaled[name]["spec"]["triggers"]}
        assert kinds == {"rabbitmq", "cpu"}, name
        for trigger in scaled[name]["spec"]["triggers"]:
            if trigger["type"] == "rabbitmq":  # resolved from the scale target's container
                assert trigger["metadata"]["hostFromEnv"] == "HELPDESK_AMQP_URI"


def _consumed_queues(service: str) -> list[str]:
    """The queues a service consumes, named by nameko itself (entrypoints set up, no broker)."""
    module = importlib.import_module(f"services.{service}.service")
    container = ServiceContainer(getattr(module, stack.SERVICE_CLASSES[service]),
                                 {"AMQP_URI": "memory://"})
    for entrypoint in container.entrypoints:
        entrypoint.setup()
        if isinstance(entrypoint, Rpc):
            entrypoint.rpc_consumer.setup()
    return queues_of(container)


@pytest.mark.parametrize("service", NAMEKO)
def test_queue_triggers_are_exactly_the_queues_the_service_consumes(service):
    """An event handler added, renamed or removed must be reflected in the autoscaler."""
    triggers = _of("ScaledObject")[service]["spec"]["triggers"]
    named = sorted(t["metadata"]["queueName"] for t in triggers if t["type"] == "rabbitmq")
    assert named == _consumed_queues(service)


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_passes_the_compose_specification_schema():
    _validator("compose-spec.json").validate(_compose())


def test_the_compose_schema_refuses_a_broken_file():
    broken = _compose()
    broken["services"]["intake"]["restart_policy"] = "always"  # not a Compose key
    with pytest.raises(jsonschema.ValidationError):
        _validator("compose-spec.json").validate(broken)


def test_compose_sets_the_variables_the_local_stack_sets(monkeypatch):
    for name in [n for n in stack.os.environ if n.startswith("HELPDESK_")]:
        monkeypatch.delenv(name)
    settings = stack.Settings.from_env("dev")
    services = _compose()["services"]
    for kind, name in stack._process_names(settings):
        local = {k for k in stack.process_env(settings, kind, name) if k.startswith("HELPDESK_")}
        composed = set(services[kind]["environment"])
        assert local - LOCAL_ONLY <= composed, (kind, sorted(local - LOCAL_ONLY - composed))
        assert services[kind]["environment"]["HELPDESK_SERVICE_NAME"] == kind


def _documented() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(HELPDESK_[A-Z_]+)`", table))


def test_every_variable_the_deployments_set_is_documented():
    used = set()
    for service in _compose()["services"].values():
        used |= {k for k in service.get("environment") or {} if k.startswith("HELPDESK_")}
    for doc in DOCS:
        if doc["kind"] == "ConfigMap":
            used |= set(doc["data"])
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                used |= {e["name"] for e in container["env"]}
    assert used - _documented() == set()
