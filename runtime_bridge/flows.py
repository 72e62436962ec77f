"""Reading Langflow exports: validate the structure, strip secrets, describe the flow.

Pure functions, no database. A Langflow 1.x export looks like

    {"id", "name", "description", "endpoint_name", "last_tested_version", "is_component", "tags",
     "data": {"nodes": [{"id", "type": "genericNode" | "noteNode", "position",
                         "data": {"id", "type": "<component>", "node": {"template": {<field>: {...}}}}}],
              "edges": [{"id", "source", "target", "sourceHandle", "targetHandle", "data"}],
              "viewport": {...}}}

Each template field is a dict; secret ones carry `"password": true` or a secret `_input_type`, and a field
with `"load_from_db": true` holds the *name* of a variable the runtime fills in (e.g. from `global_vars`).
"""

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

MAX_FLOW_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 500
CHAT_INPUT_TYPES = {"ChatInput"}
CHAT_OUTPUT_TYPES = {"ChatOutput"}
NOTE_NODE_TYPES = {"noteNode"}
SECRET_INPUT_TYPES = {"SecretStrInput"}
LAYOUT_KEYS = {
    "position",
    "positionAbsolute",
    "selected",
    "dragging",
    "measured",
    "width",
    "height",
    "viewport",
}
# Values that look like well-known credentials, wherever they appear outside a component's code.
CREDENTIAL_PATTERNS = [
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
]
VARIABLE_NAME = re.compile(r"[^A-Z0-9_]+")


@dataclass(frozen=True)
class Problem:
    """Something wrong with a flow, tied to the node (or edge) it concerns when there is one."""

    code: str
    message: str
    node_id: str | None = None

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "node_id": self.node_id}


@dataclass
class FlowReport:
    """What validation found: problems (blocking), warnings, and a description of the flow."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    flow: dict | None = None  # the export with secret values removed
    name: str = ""
    description: str = ""
    source_flow_id: str = ""
    langflow_version: str = ""
    node_count: int = 0
    edge_count: int = 0
    component_types: list[str] = field(default_factory=list)
    required_variables: list[str] = field(default_factory=list)
    stripped_secrets: int = 0
    sha256: str = ""

    @property
    def is_valid(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return f"Nodes: {self.node_count} | Edges: {self.edge_count}"

    def as_dict(self) -> dict:
        return {
            "valid": self.is_valid,
            "summary": self.summary(),
            "problems": [problem.as_dict() for problem in self.problems],
            "warnings": [warning.as_dict() for warning in self.warnings],
            "name": self.name,
            "langflow_version": self.langflow_version,
            "node_count": self.node_count,
            "edge_count": self.edge_count,
            "component_types": self.component_types,
            "required_variables": self.required_variables,
            "stripped_secrets": self.stripped_secrets,
        }


@cache
def known_component_types() -> frozenset[str]:
    """Component types the runtime can load (see scripts/update_component_index.py)."""
    path = Path(__file__).resolve().parent / "data" / "langflow_components.json"
    return frozenset(json.loads(path.read_text())["component_types"])


def _depth_exceeds(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(current, dict):
            stack.extend((child, depth + 1) for child in current.values())
        elif isinstance(current, list):
            stack.extend((child, depth + 1) for child in current)
    return False


def parse_flow(raw: str | bytes | dict) -> tuple[dict | None, list[Problem]]:
    """Decode an upload into a dict, refusing bodies that are too big, not JSON or absurdly nested."""
    if isinstance(raw, dict):
        flow = raw
        size = len(json.dumps(raw, separators=(",", ":")).encode())
    else:
        data = raw.encode() if isinstance(raw, str) else raw
        size = len(data)
        if size > MAX_FLOW_BYTES:
            return None, [
                Problem("too_large", f"The flow is {size:,} bytes; the limit is {MAX_FLOW_BYTES:,}.")
            ]
        try:
            flow = json.loads(data)
        except (ValueError, RecursionError) as error:
            return None, [Problem("not_json", f"The file is not valid JSON: {str(error)[:200]}")]
    if size > MAX_FLOW_BYTES:
        return None, [Problem("too_large", f"The flow is {size:,} bytes; the limit is {MAX_FLOW_BYTES:,}.")]
    if not isinstance(flow, dict):
        return None, [Problem("not_object", "A Langflow export is a JSON object.")]
    if _depth_exceeds(flow, MAX_DEPTH):
        return None, [Problem("too_deep", f"The flow is nested more than {MAX_DEPTH} levels deep.")]
    return flow, []


def _variable_name(node_type: str, field_name: str) -> str:
    return VARIABLE_NAME.sub("_", f"{node_type}_{field_name}".upper()).strip("_")[:100]


def _strip_secrets(
    node_id: str, node_type: str, template: dict, report: FlowReport, variables: set[str]
) -> None:
    for field_name, spec in template.items():
        if not isinstance(spec, dict) or field_name == "code":
            continue
        value = spec.get("value")
        is_secret = spec.get("password") is True or spec.get("_input_type") in SECRET_INPUT_TYPES
        if spec.get("load_from_db") is True:
            if isinstance(value, str) and value.strip():
                variables.add(value.strip()[:100])
            continue
        if is_secret:
            if value not in (None, "", []):
                # A literal secret: drop it and have the runtime read a variable instead.
                name = _variable_name(node_type, field_name)
                spec["value"] = name
                spec["load_from_db"] = True
                variables.add(name)
                report.stripped_secrets += 1
                report.warnings.append(
                    Problem(
                        "secret_removed",
                        f"The value of '{field_name}' was removed; set variable {name}.",
                        node_id,
                    )
                )
            continue
        if isinstance(value, str) and any(pattern.search(value) for pattern in CREDENTIAL_PATTERNS):
            spec["value"] = ""
            report.stripped_secrets += 1
            report.warnings.append(
                Problem(
                    "credential_removed", f"'{field_name}' looked like a credential and was cleared.", node_id
                )
            )


def _semantic_hash(flow: dict) -> str:
    """sha256 of the flow without layout, so moving a node in the Studio is not a new version."""

    def without_layout(value):
        if isinstance(value, dict):
            return {key: without_layout(child) for key, child in value.items() if key not in LAYOUT_KEYS}
        if isinstance(value, list):
            return [without_layout(child) for child in value]
        return value

    content = {"nodes": without_layout(flow["data"]["nodes"]), "edges": without_layout(flow["data"]["edges"])}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def validate_flow(raw: str | bytes | dict, *, requires_chat: bool) -> FlowReport:
    """Check a Langflow export and return its report; `report.flow` is the secret-free copy to store."""
    report = FlowReport()
    parsed, problems = parse_flow(raw)
    if parsed is None:
        report.problems = problems
        return report
    flow = copy.deepcopy(parsed)
    data = flow.get("data")
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, list) or not nodes:
        report.problems.append(Problem("no_nodes", "The export has no data.nodes: is it a Langflow flow?"))
        return report
    if len(nodes) > MAX_NODES:
        report.problems.append(
            Problem("too_many_nodes", f"The flow has {len(nodes)} nodes; the limit is {MAX_NODES}.")
        )
        return report
    edges = data.get("edges", [])
    if not isinstance(edges, list):
        report.problems.append(Problem("bad_edges", "data.edges must be a list."))
        return report

    report.name = str(flow.get("name") or "")[:120]
    report.description = str(flow.get("description") or "")[:2000]
    report.source_flow_id = str(flow.get("id") or "")[:64]
    report.langflow_version = str(flow.get("last_tested_version") or "")[:40]

    known = known_component_types()
    seen_ids: set[str] = set()
    types: set[str] = set()
    variables: set[str] = set()
    component_count = 0
    for position, node in enumerate(nodes):
        if not isinstance(node, dict):
            report.problems.append(Problem("bad_node", f"Node #{position + 1} is not an object."))
            continue
        node_id = node.get("id")
        if not isinstance(node_id, str) or not node_id.strip():
            report.problems.append(Problem("node_without_id", f"Node #{position + 1} has no id."))
            continue
        if node_id in seen_ids:
            report.problems.append(Problem("duplicate_id", f"Two nodes share the id '{node_id}'.", node_id))
            continue
        seen_ids.add(node_id)
        if node.get("type") in NOTE_NODE_TYPES:
            continue
        node_data = node.get("data")
        node_type = node_data.get("type") if isinstance(node_data, dict) else None
        if not isinstance(node_type, str) or not node_type:
            report.problems.append(Problem("node_without_type", "The node has no component type.", node_id))
            continue
        component_count += 1
        types.add(node_type)
        template = (
            (node_data.get("node") or {}).get("template") if isinstance(node_data.get("node"), dict) else None
        )
        if not isinstance(template, dict):
            report.problems.append(Problem("node_without_template", "The node has no template.", node_id))
            continue
        if node_type not in known:
            report.problems.append(
                Problem(
                    "unknown_component",
                    f"Unknown component type '{node_type}': the runtime cannot load it.",
                    node_id,
                )
            )
        if node_data["node"].get("edited") is True:
            report.warnings.append(Problem("edited_component", f"'{node_type}' has edited code.", node_id))
        _strip_secrets(node_id, node_type, template, report, variables)

    for position, edge in enumerate(edges):
        if not isinstance(edge, dict):
            report.problems.append(Problem("bad_edge", f"Edge #{position + 1} is not an object."))
            continue
        for end in ("source", "target"):
            node_id = edge.get(end)
            if node_id not in seen_ids:
                report.problems.append(
                    Problem(
                        "unknown_edge_node",
                        f"Edge #{position + 1} points to unknown {end} node '{node_id}'.",
                        str(node_id) if node_id is not None else None,
                    )
                )

    if requires_chat:
        if not types & CHAT_INPUT_TYPES:
            report.problems.append(Problem("no_chat_input", "A chat product needs a Chat Input component."))
        if not types & CHAT_OUTPUT_TYPES:
            report.problems.append(Problem("no_chat_output", "A chat product needs a Chat Output component."))

    report.node_count = component_count
    report.edge_count = len(edges)
    report.component_types = sorted(types)
    report.required_variables = sorted(variables)
    if report.is_valid:
        report.flow = flow
        report.sha256 = _semantic_hash(flow)
    return report
