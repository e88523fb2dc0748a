"""File storage for what we acknowledge: a webhook post or a person's upload is on disk
before the row naming it commits.

Django's FileSystemStorage leaves a new file in the page cache. The row that names it is
committed, and PostgreSQL flushes its commit to disk, so after a power cut the row could
survive and name a file that is empty or missing: an answer or its evidence lost after
the provider or the person was told it was received. Flushing the file, and the folder
that gained its name, closes that window at the cost of one flush a file, about what a
commit costs (bench/RESULTS.md, "the durable floors").
"""

import os

from django.core.files.base import File
from django.core.files.storage import FileSystemStorage


class DurableFileSystemStorage(FileSystemStorage):
    def _save(self, name: str, content: File) -> str:
        name = super()._save(name, content)
        path = self.path(name)
        _fsync(path)
        _fsync(os.path.dirname(path))  # the new name itself
        return name


def _fsync(path: str) -> None:
    # Opened read-only: fsync flushes the file's (or folder's) data and metadata
    # whichever descriptor asks.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
