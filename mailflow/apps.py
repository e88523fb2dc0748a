from django.apps import AppConfig


class MailflowConfig(AppConfig):
    name = "mailflow"
    verbose_name = "Mail flow"

    def ready(self) -> None:
        from mailflow import receivers  # noqa: F401
