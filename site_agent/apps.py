from django.apps import AppConfig


class SiteAgentConfig(AppConfig):
    name = "site_agent"
    verbose_name = "Site agents"

    def ready(self) -> None:
        from site_agent import signals  # noqa: F401
