"""The four shelves of the marketplace, with the capabilities their offerings get by default."""

from django.db import migrations

CATEGORIES = [
    {
        "slug": "agents",
        "name": "Agents",
        "icon": "bot",
        "colour": "#4F46E5",
        "description": "Autonomous agents that answer, act and hand over to people when needed.",
        "default_capabilities": ["chat", "api", "knowledge_base", "persona", "branding", "integrations"],
    },
    {
        "slug": "apps",
        "name": "Apps",
        "icon": "app",
        "colour": "#0891B2",
        "description": "Ready-made AI applications and integrations with the tools you already use.",
        "default_capabilities": ["api", "branding", "integrations", "knowledge_base"],
    },
    {
        "slug": "assistants",
        "name": "Assistants",
        "icon": "sparkles",
        "colour": "#DB2777",
        "description": "Conversational assistants trained on your own documents.",
        "default_capabilities": ["chat", "api", "knowledge_base", "persona", "branding"],
    },
    {
        "slug": "automations",
        "name": "Automations",
        "icon": "workflow",
        "colour": "#16A34A",
        "description": "Scheduled and event-driven workflows that run without a chat window.",
        "default_capabilities": ["api", "knowledge_base", "integrations", "scheduling"],
    },
]


def create_categories(apps, schema_editor):
    Category = apps.get_model("marketplace", "Category")
    for position, data in enumerate(CATEGORIES):
        Category.objects.update_or_create(slug=data["slug"], defaults={**data, "sort_order": position})


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0002_offering_search_trigger")]

    operations = [migrations.RunPython(create_categories, migrations.RunPython.noop)]
