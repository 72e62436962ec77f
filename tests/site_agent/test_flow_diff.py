"""flow_diff: what changed between two Langflow exports (pure function, no database)."""

import copy

from site_agent.diff import EdgeRef, FieldChange, NodeRef, flow_diff


def node(node_id, node_type, template=None, display_name=None, position=(0, 0)):
    return {
        "id": node_id,
        "type": "genericNode",
        "position": {"x": position[0], "y": position[1]},
        "data": {
            "id": node_id,
            "type": node_type,
            "node": {"display_name": display_name or node_type, "template": template or {}},
        },
    }


def edge(source, output, target, field):
    return {
        "id": f"reactflow__edge-{source}-{target}",
        "source": source,
        "target": target,
        "data": {
            "sourceHandle": {"id": source, "name": output},
            "targetHandle": {"id": target, "fieldName": field},
        },
    }


def flow(nodes, edges):
    return {"name": "Flow", "data": {"nodes": nodes, "edges": edges, "viewport": {"x": 0, "y": 0, "zoom": 1}}}


def base():
    return flow(
        [
            node(
                "in",
                "ChatInput",
                {"input_value": {"value": ""}, "code": {"value": "class A: ..."}},
                "Chat Input",
            ),
            node("prompt", "Prompt Template", {"template": {"value": "Hi {question}"}, "_type": "Component"}),
            node("out", "ChatOutput", {"sender_name": {"value": "AI"}}, "Chat Output"),
        ],
        [edge("in", "message", "prompt", "question"), edge("prompt", "prompt", "out", "input_value")],
    )


def test_identical_flows_have_no_changes_even_when_moved_on_the_canvas():
    old = base()
    new = copy.deepcopy(old)
    new["data"]["nodes"][0]["position"] = {"x": 500, "y": 90}
    new["data"]["edges"][0]["id"] = "redrawn-edge"

    diff = flow_diff(old, new)

    assert diff.is_empty
    assert diff.change_count == 0


def test_added_and_removed_nodes_and_edges():
    old = base()
    new = copy.deepcopy(old)
    new["data"]["nodes"] = [n for n in new["data"]["nodes"] if n["id"] != "prompt"]
    new["data"]["nodes"].append(
        node("llm", "OpenAIModel", {"model_name": {"value": "gpt-4o-mini"}}, "OpenAI")
    )
    new["data"]["edges"] = [
        edge("in", "message", "llm", "input_value"),
        edge("llm", "text_output", "out", "input_value"),
    ]

    diff = flow_diff(old, new)

    assert diff.nodes_added == [NodeRef(id="llm", type="OpenAIModel", name="OpenAI")]
    assert diff.nodes_removed == [NodeRef(id="prompt", type="Prompt Template", name="Prompt Template")]
    chat_in = NodeRef(id="in", type="ChatInput", name="Chat Input")
    chat_out = NodeRef(id="out", type="ChatOutput", name="Chat Output")
    llm = NodeRef(id="llm", type="OpenAIModel", name="OpenAI")
    prompt = NodeRef(id="prompt", type="Prompt Template", name="Prompt Template")
    assert diff.edges_added == [
        EdgeRef(source=chat_in, source_port="message", target=llm, target_port="input_value"),
        EdgeRef(source=llm, source_port="text_output", target=chat_out, target_port="input_value"),
    ]
    assert diff.edges_removed == [
        EdgeRef(source=chat_in, source_port="message", target=prompt, target_port="question"),
        EdgeRef(source=prompt, source_port="prompt", target=chat_out, target_port="input_value"),
    ]
    assert diff.nodes_changed == []
    assert diff.change_count == 6


def test_changed_template_values_per_node_with_code_summarised():
    old = base()
    new = copy.deepcopy(old)
    nodes = {n["id"]: n for n in new["data"]["nodes"]}
    nodes["prompt"]["data"]["node"]["template"]["template"]["value"] = "Hello {question}"
    nodes["prompt"]["data"]["node"]["template"]["_type"] = "CustomComponent"  # bookkeeping: ignored
    nodes["in"]["data"]["node"]["template"]["code"]["value"] = "class B: ..."
    nodes["out"]["data"]["node"]["template"]["should_store_message"] = {"value": True}
    del nodes["out"]["data"]["node"]["template"]["sender_name"]

    diff = flow_diff(old, new)

    assert [(change.node.id, change.fields) for change in diff.nodes_changed] == [
        ("in", [FieldChange(field="code", old="(component code)", new="(edited code)")]),
        ("prompt", [FieldChange(field="template", old="Hi {question}", new="Hello {question}")]),
        (
            "out",
            [
                FieldChange(field="sender_name", old="AI", new="(not set)"),
                FieldChange(field="should_store_message", old="(not set)", new="true"),
            ],
        ),
    ]
    assert (diff.nodes_added, diff.nodes_removed, diff.edges_added, diff.edges_removed) == ([], [], [], [])


def test_a_changed_component_type_and_long_values_are_shown_briefly():
    old = base()
    new = copy.deepcopy(old)
    prompt = next(n for n in new["data"]["nodes"] if n["id"] == "prompt")
    prompt["data"]["type"] = "Prompt"
    prompt["data"]["node"]["template"]["template"]["value"] = "x" * 400

    diff = flow_diff(old, new)

    fields = diff.nodes_changed[0].fields
    assert fields[0] == FieldChange(field="(component type)", old="Prompt Template", new="Prompt")
    assert fields[1].field == "template"
    assert fields[1].new == "x" * 299 + "…"


def test_note_nodes_and_malformed_parts_are_ignored():
    old = base()
    new = copy.deepcopy(old)
    new["data"]["nodes"].append({"id": "note", "type": "noteNode", "data": {"node": {"description": "hi"}}})
    new["data"]["nodes"].append("not a node")
    new["data"]["edges"].append(42)

    assert flow_diff(old, new).is_empty
    assert flow_diff({}, {"data": "nonsense"}).is_empty
