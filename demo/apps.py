from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo marketplace of `make run`. It sits above every other app: it uses all of their services."""

    name = "demo"
    verbose_name = "Demo data"
