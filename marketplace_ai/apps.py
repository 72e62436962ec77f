from django.apps import AppConfig


class MarketplaceAiConfig(AppConfig):
    name = "marketplace_ai"
    verbose_name = "Marketplace AI (knowledge)"
