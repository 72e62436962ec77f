"""What changed between two versions of a Langflow flow: nodes, edges and template field values.

Pure functions over the stored exports (no database). Nodes are matched by id, which the Studio keeps
stable while a component stays on the canvas; edges by the ports they connect, so a re-drawn connection
between the same two ports is not a change. Layout (positions, sizes) is ignored, as it is for versions.
"""

import json
from dataclasses import dataclass, field

MAX_VALUE_CHARS = 300
NOTE_NODE_TYPES = {"noteNode"}
CODE_FIELD = "code"


@dataclass(frozen=True)
class NodeRef:
    """A component on the canvas."""

    id: str
    type: str
    name: str  # what the Studio shows: the display name, else the type


@dataclass(frozen=True)
class EdgeRef:
    """A connection from one component's output to another component's input."""

    source: NodeRef
    source_port: str
    target: NodeRef
    target_port: str


@dataclass(frozen=True)
class FieldChange:
    """One template field whose value differs; values are shown as short JSON text."""

    field: str
    old: str
    new: str


@dataclass
class NodeChange:
    """A component present in both versions whose settings changed."""

    node: NodeRef
    fields: list[FieldChange] = field(default_factory=list)


@dataclass
class FlowDiff:
    nodes_added: list[NodeRef] = field(default_factory=list)
    nodes_removed: list[NodeRef] = field(default_factory=list)
    edges_added: list[EdgeRef] = field(default_factory=list)
    edges_removed: list[EdgeRef] = field(default_factory=list)
    nodes_changed: list[NodeChange] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return self.change_count == 0

    @property
    def change_count(self) -> int:
        return (
            len(self.nodes_added)
            + len(self.nodes_removed)
            + len(self.edges_added)
            + len(self.edges_removed)
            + sum(len(change.fields) for change in self.nodes_changed)
        )


def _nodes(flow: dict) -> dict[str, dict]:
    data = flow.get("data") if isinstance(flow, dict) else None
    nodes = data.get("nodes") if isinstance(data, dict) else None
    found: dict[str, dict] = {}
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict) or node.get("type") in NOTE_NODE_TYPES:
            continue
        if isinstance(node.get("id"), str):
            found[node["id"]] = node
    return found


def _edges(flow: dict) -> list[dict]:
    data = flow.get("data") if isinstance(flow, dict) else None
    edges = data.get("edges") if isinstance(data, dict) else None
    return [edge for edge in edges if isinstance(edge, dict)] if isinstance(edges, list) else []


def _node_data(node: dict) -> dict:
    data = node.get("data")
    return data if isinstance(data, dict) else {}


def _template(node: dict) -> dict:
    inner = _node_data(node).get("node")
    template = inner.get("template") if isinstance(inner, dict) else None
    return template if isinstance(template, dict) else {}


def _node_ref(node_id: str, node: dict | None) -> NodeRef:
    if node is None:
        return NodeRef(id=node_id, type="", name=node_id)
    data = _node_data(node)
    node_type = str(data.get("type") or "")
    inner = data.get("node")
    display = inner.get("display_name") if isinstance(inner, dict) else None
    return NodeRef(id=node_id, type=node_type, name=str(display or node_type or node_id))


def _handle_name(edge: dict, handle: str, key: str) -> str:
    data = edge.get("data")
    value = data.get(handle) if isinstance(data, dict) else None
    if isinstance(value, dict) and value.get(key):
        return str(value[key])
    return ""


def _edge_key(edge: dict) -> tuple[str, str, str, str]:
    source_port = _handle_name(edge, "sourceHandle", "name")
    target_port = _handle_name(edge, "targetHandle", "fieldName")
    if not source_port and not target_port:
        # Not a Studio export with typed handles: fall back on whatever identifies the handles.
        source_port, target_port = str(edge.get("sourceHandle") or ""), str(edge.get("targetHandle") or "")
    return str(edge.get("source") or ""), source_port, str(edge.get("target") or ""), target_port


def _field_value(spec) -> object:
    return spec.get("value") if isinstance(spec, dict) else spec


def _show(value) -> str:
    if value is None:
        return "(not set)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    if text == "":
        return "(empty)"
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _field_changes(old: dict, new: dict) -> list[FieldChange]:
    changes = []
    old_type, new_type = _node_data(old).get("type"), _node_data(new).get("type")
    if old_type != new_type:
        changes.append(FieldChange(field="(component type)", old=_show(old_type), new=_show(new_type)))
    old_template, new_template = _template(old), _template(new)
    for name in sorted(set(old_template) | set(new_template)):
        if name.startswith("_"):  # "_type" and other Studio bookkeeping
            continue
        before, after = _field_value(old_template.get(name)), _field_value(new_template.get(name))
        if before == after:
            continue
        if name == CODE_FIELD:
            # A component's source is long; saying that it changed is what matters.
            changes.append(FieldChange(field=name, old="(component code)", new="(edited code)"))
        else:
            changes.append(FieldChange(field=name, old=_show(before), new=_show(after)))
    return changes


def flow_diff(old: dict, new: dict) -> FlowDiff:
    """Compare two Langflow exports (old -> new). Malformed parts are skipped, never an error."""
    old_nodes, new_nodes = _nodes(old), _nodes(new)
    diff = FlowDiff(
        nodes_added=[_node_ref(key, node) for key, node in new_nodes.items() if key not in old_nodes],
        nodes_removed=[_node_ref(key, node) for key, node in old_nodes.items() if key not in new_nodes],
    )
    for node_id, node in new_nodes.items():
        if node_id in old_nodes:
            fields = _field_changes(old_nodes[node_id], node)
            if fields:
                diff.nodes_changed.append(NodeChange(node=_node_ref(node_id, node), fields=fields))

    def edge_refs(edges: list[dict], nodes: dict[str, dict]) -> dict[tuple, EdgeRef]:
        refs = {}
        for edge in edges:
            source, source_port, target, target_port = key = _edge_key(edge)
            refs.setdefault(
                key,
                EdgeRef(
                    source=_node_ref(source, nodes.get(source)),
                    source_port=source_port,
                    target=_node_ref(target, nodes.get(target)),
                    target_port=target_port,
                ),
            )
        return refs

    old_edges, new_edges = edge_refs(_edges(old), old_nodes), edge_refs(_edges(new), new_nodes)
    diff.edges_added = [ref for key, ref in new_edges.items() if key not in old_edges]
    diff.edges_removed = [ref for key, ref in old_edges.items() if key not in new_edges]
    return diff
