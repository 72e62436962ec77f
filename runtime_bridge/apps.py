from django.apps import AppConfig


class RuntimeBridgeConfig(AppConfig):
    name = "runtime_bridge"
    verbose_name = "Runtime bridge"

    def ready(self) -> None:
        from runtime_bridge import signals  # noqa: F401
