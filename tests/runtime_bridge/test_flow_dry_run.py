"""With a runtime configured, checking a flow also loads it into the real `lfx serve` and removes it again."""

import pytest

from marketplace.models import Category
from runtime_bridge.runtime_client import get_runtime_client
from runtime_bridge.services import flow_check

pytestmark = [pytest.mark.django_db, pytest.mark.services]


def _flow_ids(runtime_settings) -> list[str]:
    with get_runtime_client() as runtime:
        return runtime.list_flow_ids()


def test_flow_the_runtime_loads_passes_and_leaves_nothing_behind(runtime_settings, support_flow):
    before = _flow_ids(runtime_settings)

    report = flow_check(raw=support_flow, category=Category.objects.get(slug="agents"))

    assert report.problems == []
    assert report.warnings == []
    assert _flow_ids(runtime_settings) == before


def test_component_the_runtime_cannot_load_is_a_problem(runtime_settings, support_flow):
    prompt = next(n for n in support_flow["data"]["nodes"] if n["data"]["type"] == "Prompt Template")
    prompt["data"]["node"]["template"]["code"]["value"] = "this is not python ("

    report = flow_check(raw=support_flow, category=Category.objects.get(slug="agents"))

    assert [problem.code for problem in report.problems] == ["runtime_cannot_load"]
    assert report.flow is None


def test_runtime_down_does_not_block_but_says_so(settings, support_flow):
    settings.RUNTIME_KIND = "lfx"
    settings.RUNTIME_URL = "http://127.0.0.1:9"
    settings.RUNTIME_API_KEY = "k"

    report = flow_check(raw=support_flow, category=Category.objects.get(slug="agents"))

    assert report.is_valid
    assert [warning.code for warning in report.warnings] == ["runtime_not_checked"]
