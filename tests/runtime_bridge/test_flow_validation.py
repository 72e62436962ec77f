"""Validating Langflow exports: real exports pass, broken and hostile ones are refused with the node named."""

import json

import pytest

from runtime_bridge.flows import MAX_FLOW_BYTES, validate_flow


def _codes(report) -> list[str]:
    return [problem.code for problem in report.problems]


def _node(flow: dict, component_type: str) -> dict:
    return next(node for node in flow["data"]["nodes"] if node["data"]["type"] == component_type)


def test_real_export_is_valid_and_described(support_flow):
    report = validate_flow(json.dumps(support_flow), requires_chat=True)

    assert report.problems == []
    assert report.summary() == "Nodes: 3 | Edges: 2"
    assert report.component_types == ["ChatInput", "ChatOutput", "Prompt Template"]
    assert report.required_variables == ["CMP_CONTEXT"]
    assert report.name == "Customer Support Agent"
    assert report.source_flow_id == support_flow["id"]
    assert len(report.sha256) == 64


def test_llm_export_declares_its_key_variable(llm_flow):
    report = validate_flow(llm_flow, requires_chat=True)

    assert report.is_valid
    assert report.node_count == 4
    assert "LanguageModelComponent" in report.component_types
    assert report.required_variables == ["OPENAI_API_KEY"]


def test_literal_secret_is_removed_and_replaced_by_a_variable(llm_flow):
    api_key = _node(llm_flow, "LanguageModelComponent")["data"]["node"]["template"]["api_key"]
    api_key["load_from_db"] = False
    api_key["value"] = "sk-proj-THISISAREALLOOKINGSECRETKEY1234567890"

    report = validate_flow(json.dumps(llm_flow), requires_chat=True)

    assert report.is_valid
    assert report.stripped_secrets == 1
    assert "THISISAREALLOOKINGSECRETKEY" not in json.dumps(report.flow)
    stored = _node(report.flow, "LanguageModelComponent")["data"]["node"]["template"]["api_key"]
    assert stored["value"] == "LANGUAGEMODELCOMPONENT_API_KEY"
    assert stored["load_from_db"] is True
    assert "LANGUAGEMODELCOMPONENT_API_KEY" in report.required_variables
    assert [warning.code for warning in report.warnings] == ["secret_removed"]


def test_credential_pasted_into_an_ordinary_field_is_cleared(support_flow):
    template = _node(support_flow, "ChatInput")["data"]["node"]["template"]
    template["sender_name"]["value"] = "xoxb-123456789012-abcdefghijkl"

    report = validate_flow(support_flow, requires_chat=True)

    assert report.is_valid
    assert "xoxb-123456789012" not in json.dumps(report.flow)
    assert report.warnings[0].code == "credential_removed"


def test_moving_nodes_does_not_change_the_content_hash(support_flow):
    original = validate_flow(support_flow, requires_chat=True).sha256
    for node in support_flow["data"]["nodes"]:
        node["position"] = {"x": 999, "y": 42}
    support_flow["data"]["viewport"] = {"x": 1, "y": 2, "zoom": 0.5}

    assert validate_flow(support_flow, requires_chat=True).sha256 == original


def test_changing_the_prompt_changes_the_hash(support_flow):
    original = validate_flow(support_flow, requires_chat=True).sha256
    _node(support_flow, "Prompt Template")["data"]["node"]["template"]["template"]["value"] = (
        "Other {question}"
    )

    assert validate_flow(support_flow, requires_chat=True).sha256 != original


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "not_json"),
        ("[1, 2]", "not_object"),
        ('{"name": "no data"}', "no_nodes"),
        ('{"data": {"nodes": []}}', "no_nodes"),
        ("[" * 5000 + "]" * 5000, "not_json"),
        (
            json.dumps(
                {"data": {"nodes": [{"id": "a"}], "edges": []}, "x": json.loads("[" * 100 + "]" * 100)}
            ),
            "too_deep",
        ),
    ],
)
def test_unreadable_uploads_are_refused(raw, code):
    report = validate_flow(raw, requires_chat=False)

    assert _codes(report) == [code]
    assert report.flow is None


def test_body_over_the_limit_is_refused_before_parsing():
    raw = b'{"data": {"nodes": [], "pad": "' + b"x" * MAX_FLOW_BYTES + b'"}}'

    report = validate_flow(raw, requires_chat=False)

    assert _codes(report) == ["too_large"]


def test_structural_problems_name_their_node(support_flow):
    nodes = support_flow["data"]["nodes"]
    chat_input_id = _node(support_flow, "ChatInput")["id"]
    nodes.append(json.loads(json.dumps(nodes[0])))  # duplicate id
    nodes.append({"data": {"type": "ChatInput"}})  # no id
    unknown = json.loads(json.dumps(_node(support_flow, "Prompt Template")))
    unknown["id"] = "Mystery-1"
    unknown["data"]["type"] = "TotallyMadeUpComponent"
    nodes.append(unknown)
    support_flow["data"]["edges"].append({"source": chat_input_id, "target": "Ghost-9"})

    report = validate_flow(support_flow, requires_chat=True)

    found = {(problem.code, problem.node_id) for problem in report.problems}
    assert found == {
        ("duplicate_id", nodes[0]["id"]),
        ("node_without_id", None),
        ("unknown_component", "Mystery-1"),
        ("unknown_edge_node", "Ghost-9"),
    }
    assert report.flow is None


def test_chat_products_need_chat_input_and_output(support_flow):
    flow = support_flow
    flow["data"]["nodes"] = [
        node for node in flow["data"]["nodes"] if node["data"]["type"] == "Prompt Template"
    ]
    flow["data"]["edges"] = []

    assert _codes(validate_flow(flow, requires_chat=True)) == ["no_chat_input", "no_chat_output"]
    assert validate_flow(flow, requires_chat=False).is_valid


def test_note_nodes_are_not_components(support_flow):
    support_flow["data"]["nodes"].append({"id": "note-1", "type": "noteNode", "data": {"node": {}}})

    report = validate_flow(support_flow, requires_chat=True)

    assert report.is_valid
    assert report.node_count == 3
