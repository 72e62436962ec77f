"""Build the Langflow flows of the five sample products with lfx's own graph API.

Run with the runtime's Python (it needs `lfx`); writes one Studio-style export per product:

    .venv-runtime/bin/python scripts/build_sample_flows.py OUTPUT_DIR

Two products answer offline, with no LLM key: their prompt template is filled at run time with the buyer's
retrieved knowledge (variable CMP_CONTEXT) and the visitor's question. The others call a language model and
declare the variable that holds its key (OPENAI_API_KEY); they need that key in the runtime's environment.
"""

import json
import sys
import uuid
from pathlib import Path

NAMESPACE = uuid.UUID("6f1c1a52-8d0e-4c1b-9a53-2b1f0c7d9e41")
CONTEXT_VARIABLE = "CMP_CONTEXT"
LLM_KEY_VARIABLE = "OPENAI_API_KEY"

PRODUCTS = [
    {
        "slug": "customer-support-agent",
        "name": "Customer Support Agent",
        "description": "Answers customer questions from your help-centre documents, day and night.",
        "llm": False,
        "template": (
            "Thanks for your question: \u201c{question}\u201d\n\n"
            "Here is what our help centre says about it:\n\n{context}\n\n"
            "If this does not fully answer your question, reply here and a person from our team "
            "will follow up."
        ),
    },
    {
        "slug": "general-knowledge-assistant",
        "name": "General Knowledge Assistant",
        "description": "A friendly assistant that answers from the knowledge base you give it.",
        "llm": False,
        "template": "You asked: \u201c{question}\u201d\n\nFrom the knowledge base:\n\n{context}",
    },
    {
        "slug": "code-review-agent",
        "name": "Code Review Agent",
        "description": "Reviews a diff or a snippet and explains bugs, risks and clearer alternatives.",
        "llm": True,
        "template": (
            "You are a senior engineer reviewing code. Point out bugs, security risks and unclear names, "
            "most important first, and suggest concrete fixes.\n\nCode to review:\n{question}"
        ),
    },
    {
        "slug": "slack-integration",
        "name": "Slack Integration",
        "description": "Turns a request into a clear, well-formatted Slack post for your team channel.",
        "llm": True,
        "template": (
            "Rewrite the following as a short Slack message with a bold one-line summary, then bullet "
            "points. Use the team's notes where relevant.\n\nNotes:\n{context}\n\nRequest:\n{question}"
        ),
    },
    {
        "slug": "email-responder",
        "name": "Email Responder",
        "description": "Drafts polite, accurate replies to customer emails using your policies.",
        "llm": True,
        "template": (
            "Draft a reply to the customer email below. Be polite and concise and follow the policies.\n\n"
            "Policies:\n{context}\n\nEmail:\n{question}"
        ),
    },
]


def _runtime_variable(template: dict, field: str, variable: str) -> None:
    """Have the runtime fill `field` from a per-request variable instead of a stored value."""
    template[field]["load_from_db"] = True
    template[field]["value"] = variable


def build(product: dict) -> dict:
    from lfx.components.input_output import ChatInput, ChatOutput
    from lfx.components.models_and_agents.prompt import PromptComponent
    from lfx.graph import Graph

    chat_input = ChatInput()
    prompt = PromptComponent()
    prompt.set(template=product["template"], question=chat_input.message_response)
    chat_output = ChatOutput()
    if product["llm"]:
        from lfx.components.models_and_agents.language_model import LanguageModelComponent

        model = LanguageModelComponent()
        model.set(input_value=prompt.build_prompt, api_key=LLM_KEY_VARIABLE)
        chat_output.set(input_value=model.text_response)
    else:
        chat_output.set(input_value=prompt.build_prompt)

    export = Graph(chat_input, chat_output).dump(name=product["name"], description=product["description"])
    for node in export["data"]["nodes"]:
        node.setdefault("type", "genericNode")
        template = node["data"]["node"]["template"]
        if node["data"]["type"] == "Prompt Template" and "context" in template:
            _runtime_variable(template, "context", CONTEXT_VARIABLE)
        if "api_key" in template:
            _runtime_variable(template, "api_key", LLM_KEY_VARIABLE)
    for edge in export["data"]["edges"]:
        edge.setdefault("id", f"reactflow__edge-{edge['source']}-{edge['target']}")
    import lfx

    export.update(
        {
            "id": str(uuid.uuid5(NAMESPACE, product["slug"])),
            "endpoint_name": product["slug"],
            "last_tested_version": getattr(lfx, "__version__", ""),
            "is_component": False,
            "tags": ["cmp-sample"],
        }
    )
    return export


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: build_sample_flows.py OUTPUT_DIR")
    output = Path(sys.argv[1])
    output.mkdir(parents=True, exist_ok=True)
    for product in PRODUCTS:
        path = output / f"{product['slug']}.json"
        path.write_text(json.dumps(build(product), indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
