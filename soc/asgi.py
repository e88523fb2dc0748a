import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soc.settings")

application = get_asgi_application()

from soc.startup import fail_on_check_errors  # noqa: E402  (needs the apps loaded)

fail_on_check_errors()
