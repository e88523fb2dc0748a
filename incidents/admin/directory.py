"""The directory: people and configuration items, each with an "Import CSV" page."""

from django.contrib import admin

from core.admin_helpers import InvisibleCharactersHintMixin
from incidents.admin.csv_import import CsvImportAdminMixin
from incidents.directory import directory_import_cis, directory_import_people
from incidents.models import ConfigurationItem, Person


@admin.register(Person)
class PersonAdmin(InvisibleCharactersHintMixin, CsvImportAdminMixin, admin.ModelAdmin):
    csv_importer = directory_import_people
    csv_columns_help = (
        "Columns: email, first_name (required); last_name, department, title, manager_email, "
        "language, kind (person, or group for a shared mailbox). A column left out of the "
        "file leaves that field unchanged."
    )
    list_display = ["full_name", "email", "kind", "department", "title", "manager", "language"]
    list_select_related = ["manager"]
    list_filter = ["kind", "department", "language"]
    search_fields = ["email", "first_name", "last_name"]
    autocomplete_fields = ["manager"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(ordering="last_name")
    def full_name(self, person: Person) -> str:
        return person.full_name


@admin.register(ConfigurationItem)
class ConfigurationItemAdmin(CsvImportAdminMixin, admin.ModelAdmin):
    csv_importer = directory_import_cis
    csv_columns_help = (
        "Columns: name (required); kind, hostname, ip_address, owner_email. "
        "Owners must already be in the directory: import people first."
    )
    list_display = ["name", "kind", "hostname", "ip_address", "owner"]
    list_select_related = ["owner"]
    list_filter = ["kind"]
    search_fields = ["name", "hostname", "ip_address", "owner__email"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created_at", "updated_at"]
