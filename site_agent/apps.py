from django.apps import AppConfig


class SiteAgentConfig(AppConfig):
    name = "site_agent"
    verbose_name = "Site agents"
