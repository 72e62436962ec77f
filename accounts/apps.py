from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Users and tokens"

    def ready(self) -> None:
        from accounts import schema, signals  # noqa: F401 - signal receivers, the Bearer scheme for the API docs
