import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soc.settings")

application = get_wsgi_application()

from soc.startup import fail_on_check_errors  # noqa: E402  (needs the apps loaded)

fail_on_check_errors()
