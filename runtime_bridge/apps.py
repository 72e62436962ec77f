from django.apps import AppConfig


class RuntimeBridgeConfig(AppConfig):
    name = "runtime_bridge"
    verbose_name = "Runtime bridge"
