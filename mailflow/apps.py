from django.apps import AppConfig


class MailflowConfig(AppConfig):
    name = "mailflow"
    verbose_name = "Mail flow"
