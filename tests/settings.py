"""Test settings: the real settings, with tasks run inline and files in a temporary folder.

django-q2 reads Q_CLUSTER once at import, so `sync` must be set here rather than with
override_settings.
"""

import os
import tempfile

os.environ.setdefault("DEBUG", "true")
# The tests never read a developer's `.env`: an empty file in its place. Set here, so the
# commands the tests run in subprocesses inherit it.
os.environ["ENV_FILE"] = os.devnull

from soc.settings import *  # noqa: F403
from soc.settings import Q_CLUSTER

Q_CLUSTER["sync"] = True

_TMP = tempfile.mkdtemp(prefix="soc-tests-")
EVIDENCE_ROOT = f"{_TMP}/evidence"
INBOUND_ROOT = f"{_TMP}/inbound"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
