from django.apps import AppConfig


class ApiConfig(AppConfig):
    """API tokens and the base classes every app's endpoints use. The label stays "api":
    the tokens' table, migrations and permissions were created under it."""

    name = "core.api"
    label = "api"
    verbose_name = "REST API"
