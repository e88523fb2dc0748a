"""The directory import as a person meets it: a CSV upload, and an import that must fail."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from incidents.directory import DirectoryImportError
from incidents.models import ConfigurationItem, Person


def counts() -> tuple[int, int]:
    return Person.objects.count(), ConfigurationItem.objects.count()


def import_errors(importer, data: bytes) -> list[str]:
    """Run an import that must fail; return its errors as shown to the person."""
    before = counts()
    with pytest.raises(DirectoryImportError) as refused:
        importer(data=data)
    assert counts() == before, "a refused file must import nothing"
    return [str(error) for error in refused.value.errors]


def upload(data: bytes) -> dict:
    return {"file": SimpleUploadedFile("people.csv", data, content_type="text/csv")}
