from django.apps import AppConfig


class MailflowConfig(AppConfig):
    name = "mailflow"
    verbose_name = "Mail flow"

    def ready(self) -> None:
        from mailflow import receivers  # noqa: F401
        from mailflow.services import sends_batched
        from runbooks.services import BATCH_CONTEXTS

        if sends_batched not in BATCH_CONTEXTS:
            BATCH_CONTEXTS.append(sends_batched)
