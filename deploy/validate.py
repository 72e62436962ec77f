"""Validate everything under deploy/ and the compose file, without a cluster, a Docker engine or a network.

Run by deploy/validate.sh in its own venv (.venv-deploy, deploy/requirements-validate.txt):

1. Renders the Kustomize trees (base, overlays dev and prod, ragflow) with the real kustomize, compiled
   into the `pykustomize` package.
2. Validates every rendered object: built-in kinds against the Kubernetes OpenAPI schemas shipped in
   `kubernetes-validate` (strict: unknown fields fail), our custom resources (ExternalSecret, CloudNativePG,
   prometheus-operator, Argo CD) against the structural schemas in deploy/schemas/. A kind with neither fails.
3. Checks what schemas cannot: every CMP container has requests and limits and runs as non-root, the
   long-running ones have probes, images are tagged, Services, HPAs and PDBs select or target something
   that exists, referenced ConfigMaps and Secrets are rendered (or made by an operator), alerts and the
   dashboard only query metrics that cmp/metrics.py defines, Argo CD paths exist.
4. Validates docker-compose.yaml against the Compose Specification schema (vendored in `check-jsonschema`)
   plus cross-references (depends_on, volumes, build targets, required variables in .env.example).
5. Checks the Dockerfile: the final stages run as a non-root user and every COPY source exists.

Exit status 0 when all is well; otherwise every problem is printed and the status is 1.
"""

import asyncio
import importlib.resources
import json
import re
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate.utils as kubernetes_validate
import pykustomize
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.31"
RENDERS = {
    "base": DEPLOY / "k8s" / "base",
    "dev": DEPLOY / "k8s" / "overlays" / "dev",
    "prod": DEPLOY / "k8s" / "overlays" / "prod",
    "ragflow": DEPLOY / "k8s" / "ragflow",
}
CMP_RENDERS = ("dev", "prod")
# Made by operators at run time, so never rendered: CloudNativePG's application credentials.
OPERATOR_SECRETS = {"cmp-db-app"}
NAMESPACED_EXCEPTIONS = {"Namespace"}

problems: list[str] = []


def problem(where: str, message: str) -> None:
    problems.append(f"{where}: {message}")


# --- Kubernetes -----------------------------------------------------------------------------------


def render(path: Path) -> list[dict]:
    result = asyncio.run(pykustomize.build(str(path)))
    return [document for document in yaml.safe_load_all(result.yaml) if document]


def crd_schemas() -> dict[tuple[str, str], dict]:
    schemas = {}
    for path in sorted((DEPLOY / "schemas").glob("*.json")):
        schema = json.loads(path.read_text())
        properties = schema["properties"]
        schemas[(properties["apiVersion"]["const"], properties["kind"]["const"])] = schema
    return schemas


def validate_object(where: str, document: dict, schemas: dict) -> None:
    key = (document.get("apiVersion"), document.get("kind"))
    name = f"{where} {key[1]}/{document.get('metadata', {}).get('name')}"
    if key in schemas:
        validator = jsonschema.Draft202012Validator(schemas[key])
        for error in sorted(validator.iter_errors(document), key=lambda error: list(error.path)):
            problem(name, f"{'.'.join(str(part) for part in error.path) or '(root)'}: {error.message}")
        return
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        problem(name, f"{path}: {error.message}")
    except kubernetes_validate.SchemaNotFoundError:
        problem(name, "no Kubernetes schema and no schema in deploy/schemas/ for this kind")


def pod_templates(document: dict) -> dict | None:
    if document["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return document["spec"]["template"]
    return None


def check_cmp_policies(where: str, documents: list[dict]) -> None:
    by_kind: dict[str, dict[str, dict]] = {}
    for document in documents:
        by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document
        if document["kind"] not in NAMESPACED_EXCEPTIONS and not document["metadata"].get("namespace"):
            problem(where, f"{document['kind']}/{document['metadata']['name']} has no namespace")

    config_maps = set(by_kind.get("ConfigMap", {}))
    secrets = set(by_kind.get("Secret", {})) | OPERATOR_SECRETS
    secrets |= {external["spec"]["target"]["name"] for external in by_kind.get("ExternalSecret", {}).values()}
    claims = set(by_kind.get("PersistentVolumeClaim", {}))

    for document in documents:
        template = pod_templates(document)
        if template is None:
            continue
        name = f"{where} {document['kind']}/{document['metadata']['name']}"
        spec = template["spec"]
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            problem(name, "the pod must set securityContext.runAsNonRoot")
        for volume in spec.get("volumes", []):
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in claims:
                problem(name, f"volume {volume['name']} uses the missing claim {claim}")
        for container in spec["containers"]:
            label = f"{name} container {container['name']}"
            image = container["image"]
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                problem(label, f"image {image} must carry a fixed tag")
            resources = container.get("resources", {})
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(section, {}):
                        problem(label, f"resources.{section}.{resource} is missing")
            security = container.get("securityContext", {})
            if security.get("allowPrivilegeEscalation") is not False:
                problem(label, "securityContext.allowPrivilegeEscalation must be false")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                problem(label, "securityContext.capabilities.drop must be [ALL]")
            component = template["metadata"]["labels"].get("app.kubernetes.io/component")
            if component in {"web", "runtime"} and not (
                container.get("readinessProbe") and container.get("livenessProbe")
            ):
                problem(label, "a serving container needs a readiness and a liveness probe")
            if component == "worker" and not container.get("livenessProbe"):
                problem(label, "the worker needs a liveness probe")
            for source in container.get("envFrom", []):
                if "configMapRef" in source and source["configMapRef"]["name"] not in config_maps:
                    problem(label, f"envFrom names the missing ConfigMap {source['configMapRef']['name']}")
                if "secretRef" in source and source["secretRef"]["name"] not in secrets:
                    problem(label, f"envFrom names the missing Secret {source['secretRef']['name']}")
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference and reference["name"] not in secrets:
                    problem(label, f"{variable['name']} reads the missing Secret {reference['name']}")

    workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}

    def selects_a_workload(selector: dict) -> bool:
        return any(
            selector.items() <= workload["spec"]["template"]["metadata"]["labels"].items()
            for workload in workloads.values()
        )

    for service in by_kind.get("Service", {}).values():
        if not selects_a_workload(service["spec"].get("selector", {})):
            problem(where, f"Service/{service['metadata']['name']} selects no workload")
    for budget in by_kind.get("PodDisruptionBudget", {}).values():
        if not selects_a_workload(budget["spec"]["selector"]["matchLabels"]):
            problem(where, f"PodDisruptionBudget/{budget['metadata']['name']} selects no workload")
    for autoscaler in by_kind.get("HorizontalPodAutoscaler", {}).values():
        target = autoscaler["spec"]["scaleTargetRef"]
        if target["name"] not in workloads:
            problem(where, f"HorizontalPodAutoscaler/{autoscaler['metadata']['name']} targets nothing")
    for monitor in [*by_kind.get("ServiceMonitor", {}).values(), *by_kind.get("PodMonitor", {}).values()]:
        if not selects_a_workload(monitor["spec"]["selector"]["matchLabels"]):
            problem(where, f"{monitor['kind']}/{monitor['metadata']['name']} selects no workload")
    for ingress in by_kind.get("Ingress", {}).values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                if path["backend"]["service"]["name"] not in by_kind.get("Service", {}):
                    problem(where, f"Ingress/{ingress['metadata']['name']} routes to a missing Service")
    check_queries(where, documents)


def defined_metrics() -> set[str]:
    """Metric names cmp/metrics.py exports, with the series names Prometheus derives from them."""
    source = (ROOT / "cmp" / "metrics.py").read_text()
    names = set()
    declaration = r"(Counter|Histogram|GaugeMetricFamily|Gauge)\(\s*\"(cmp_[a-z_]+)\""
    for kind, name in re.findall(declaration, source):
        base = name.removesuffix("_total")
        if kind == "Counter":
            names |= {base + "_total", base + "_created"}
        elif kind == "Histogram":
            names |= {base + "_bucket", base + "_count", base + "_sum", base + "_created"}
        else:
            names.add(name)
    return names


def metrics_in(expression: str) -> set[str]:
    return set(re.findall(r"\bcmp_[a-z_]+\b", expression))


def check_queries(where: str, documents: list[dict]) -> None:
    known = defined_metrics()
    for document in documents:
        if document["kind"] == "PrometheusRule":
            for group in document["spec"]["groups"]:
                for rule in group["rules"]:
                    for name in metrics_in(rule["expr"]) - known:
                        problem(where, f"alert {rule.get('alert')} queries the unknown metric {name}")
        labels = document["metadata"].get("labels", {})
        if document["kind"] == "ConfigMap" and labels.get("grafana_dashboard"):
            for key, text in document["data"].items():
                dashboard = json.loads(text)
                for panel in dashboard["panels"]:
                    for target in panel.get("targets", []):
                        for name in metrics_in(target["expr"]) - known:
                            problem(where, f"dashboard {key} panel {panel['title']!r} queries unknown {name}")


def check_kubernetes() -> None:
    schemas = crd_schemas()
    for name, path in RENDERS.items():
        try:
            documents = render(path)
        except pykustomize.KustomizeError as error:
            problem(f"kustomize {name}", str(error))
            continue
        for document in documents:
            validate_object(name, document, schemas)
        if name in CMP_RENDERS:
            check_cmp_policies(name, documents)
        print(f"  {name}: {len(documents)} objects rendered and validated")
    for path in sorted((DEPLOY / "argocd").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            validate_object(path.name, document, schemas)
            source = document["spec"]["source"]["path"]
            if not (ROOT / source / "kustomization.yaml").exists():
                problem(path.name, f"source path {source} has no kustomization.yaml")
        print(f"  argocd/{path.name}: validated")


# --- Compose ------------------------------------------------------------------------------------------


def compose_schema() -> dict:
    text = (
        importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text()
    )
    return json.loads(text)


def check_compose() -> None:
    path = ROOT / "docker-compose.yaml"
    compose = yaml.safe_load(path.read_text())
    validator = jsonschema.Draft202012Validator(compose_schema())
    for error in validator.iter_errors(compose):
        problem("docker-compose.yaml", f"{'.'.join(str(part) for part in error.path)}: {error.message}")
    services = compose.get("services", {})
    volumes = set(compose.get("volumes", {}))
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            if dependency not in services:
                problem("docker-compose.yaml", f"{name} depends on the unknown service {dependency}")
            elif set(services[dependency].get("profiles", [])) - set(service.get("profiles", [])):
                problem("docker-compose.yaml", f"{name} depends on {dependency}, which runs in a profile")
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source", "")
            if source and not source.startswith((".", "/", "$")) and source not in volumes:
                problem("docker-compose.yaml", f"{name} mounts the undeclared volume {source}")
        build = service.get("build")
        if build:
            dockerfile = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
            if not dockerfile.exists():
                missing = dockerfile.relative_to(ROOT)
                problem("docker-compose.yaml", f"{name} builds from the missing {missing}")
            elif build.get("target") and build["target"] not in dockerfile_stages(dockerfile):
                problem("docker-compose.yaml", f"{name} builds the missing stage {build['target']}")
        if "image" not in service and not build:
            problem("docker-compose.yaml", f"{name} has neither an image nor a build")
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    for variable in sorted(set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", path.read_text()))):
        if variable not in documented:
            problem("docker-compose.yaml", f"the required variable {variable} is not in .env.example")
    print(f"  docker-compose.yaml: {len(services)} services validated against the Compose Specification")


# --- Dockerfile -----------------------------------------------------------------------------------------


def dockerfile_stages(path: Path) -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    current = None
    text = re.sub(r"\\\n", " ", path.read_text())
    for line in text.splitlines():
        line = line.strip()
        match = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.I)
        if match:
            current = match.group(1) or f"stage{len(stages)}"
            stages[current] = []
        elif current and line and not line.startswith("#"):
            stages[current].append(line)
    return stages


def check_dockerfile() -> None:
    path = DEPLOY / "Dockerfile"
    stages = dockerfile_stages(path)
    for final in ("web", "runtime"):
        users = [line.split()[1] for line in stages.get(final, []) if line.upper().startswith("USER ")]
        if not users:
            problem("deploy/Dockerfile", f"stage {final} sets no USER (it would run as root)")
        elif users[-1].split(":")[0] in {"0", "root"}:
            problem("deploy/Dockerfile", f"stage {final} runs as root")
    for lines in stages.values():
        for line in lines:
            if not line.upper().startswith("COPY ") or "--from=" in line:
                continue
            sources = [part for part in line.split()[1:-1] if not part.startswith("--")]
            for source in sources:
                if source != "." and not (ROOT / source).exists():
                    problem("deploy/Dockerfile", f"COPY source {source} does not exist")
    print(f"  deploy/Dockerfile: {len(stages)} stages checked")


def main() -> int:
    print("Kubernetes manifests")
    check_kubernetes()
    print("Compose")
    check_compose()
    print("Dockerfile")
    check_dockerfile()
    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for line in problems:
            print(f"  - {line}", file=sys.stderr)
        return 1
    print("\nAll deployment files are valid.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
