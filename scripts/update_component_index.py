"""Write runtime_bridge/data/langflow_components.json: the component types a Langflow runtime knows.

Run with the runtime's own Python (it needs the `lfx` package):

    .venv-runtime/bin/python scripts/update_component_index.py

The list is the union of lfx's bundled component index and its history of stable component hashes
(components that shipped in earlier Langflow releases), so exports from older Studios validate too.
"""

import json
from importlib import resources
from pathlib import Path

# Component names that Langflow renamed; exports from older Studios still use the old name.
LEGACY_ALIASES = {"Prompt": "Prompt Template"}

OUTPUT = Path(__file__).resolve().parent.parent / "runtime_bridge" / "data" / "langflow_components.json"


def main() -> None:
    import lfx

    assets = resources.files("lfx") / "_assets"
    index = json.loads((assets / "component_index.json").read_text())
    history = json.loads((assets / "stable_hash_history.json").read_text())
    names = {name for _category, components in index["entries"] for name in components}
    names |= set(history)
    names |= set(LEGACY_ALIASES)
    OUTPUT.write_text(
        json.dumps(
            {
                "generated_from": f"lfx {getattr(lfx, '__version__', index.get('version', ''))}",
                "component_types": sorted(names),
            },
            indent=1,
        )
        + "\n"
    )
    print(f"{len(names)} component types written to {OUTPUT.name}")


if __name__ == "__main__":
    main()
