"""REST API of the case record: incidents, their timeline, tasks, evidence and the
directory. View sets only check input (serializers) and call the services; every state
change is an action endpoint. Routed in api/urls.py."""

import re
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.fields import SlugRelatedField
from core.api.permissions import ModelPermissions, TokenScope
from core.api.viewsets import ApiViewSet
from incidents import directory
from incidents.details import DetailsError, details_clean
from incidents.evidence_download import evidence_download_response
from incidents.filters import (
    ConfigurationItemFilter,
    EvidenceFilter,
    IncidentFilter,
    PersonFilter,
    TaskFilter,
    TimelineFilter,
)
from incidents.models import (
    Category,
    ConfigurationItem,
    Evidence,
    Person,
    ResponseTask,
    SecurityIncident,
    TimelineEntry,
)
from incidents.services import (
    incident_add_note,
    incident_assign,
    incident_open,
    incident_transition,
    task_transition,
)

# Record numbers (SIR0001001, SIT0001001) in URLs: anything else is a plain 404.
NUMBER_PATTERN = r"[A-Za-z0-9]{1,16}"
ID_PATTERN = r"[0-9]{1,18}"
_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")

Priority = SecurityIncident.Priority

_ALREADY_OPENED = "The incident already opened for this external_reference; nothing changed."
_NOT_FROM_THIS_STATE = OpenApiResponse(description="Not allowed from the current state.")


# --- Serializers: what is shown -----------------------------------------------------------


class IncidentSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    category_name = serializers.CharField(source="category.name", read_only=True)
    priority_label = serializers.CharField(source="get_priority_display", read_only=True)
    affected_user = serializers.EmailField(
        source="affected_user.email", read_only=True, allow_null=True, default=None
    )
    affected_ci = serializers.CharField(
        source="affected_ci.name", read_only=True, allow_null=True, default=None
    )
    assigned_to = serializers.CharField(
        source="assigned_to.username", read_only=True, allow_null=True, default=None
    )
    assignment_group = serializers.CharField(
        source="assignment_group.name", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = SecurityIncident
        fields = [
            "number", "short_description", "description", "category", "category_name",
            "priority", "priority_label", "state", "affected_user", "affected_ci",
            "assigned_to", "assignment_group", "external_reference", "opened_at",
            "updated_at", "closed_at", "details",
        ]  # fmt: skip
        read_only_fields = fields


class TimelineEntrySerializer(serializers.ModelSerializer):
    task = serializers.SlugRelatedField(slug_field="number", read_only=True)
    evidence = serializers.PrimaryKeyRelatedField(read_only=True)
    kind_label = serializers.CharField(read_only=True, help_text="The kind's name for people.")

    class Meta:
        model = TimelineEntry
        fields = [
            "id", "created_at", "kind", "kind_label", "actor_kind", "actor_name", "summary",
            "body", "data", "task", "evidence",
        ]  # fmt: skip
        read_only_fields = fields


class TaskSerializer(serializers.ModelSerializer):
    incident = serializers.SlugRelatedField(slug_field="number", read_only=True)
    assignee = serializers.CharField(
        source="assignee.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = ResponseTask
        fields = [
            "number", "incident", "title", "description", "state", "assignee", "due_at",
            "created_by_kind", "created_by_name", "created_at", "updated_at", "closed_at",
        ]  # fmt: skip
        read_only_fields = fields


class EvidenceSerializer(serializers.ModelSerializer):
    incident = serializers.SlugRelatedField(slug_field="number", read_only=True)
    task = serializers.SlugRelatedField(slug_field="number", read_only=True)

    class Meta:
        model = Evidence
        fields = [
            "id", "incident", "task", "filename", "declared_content_type",
            "detected_content_type", "size", "sha256", "source", "provenance",
            "quarantine_reason", "added_at",
        ]  # fmt: skip
        read_only_fields = fields


# --- Serializers: what is accepted ------------------------------------------------------


class IncidentCreateSerializer(serializers.Serializer):
    """An incident as a detection tool reports it. The category, the person and the CI are
    named, not numbered: a SIEM knows the email and host name, not our ids."""

    short_description = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    category = serializers.CharField(
        max_length=100, help_text="Category slug or name, e.g. policy-violation."
    )
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.LOW)
    affected_user = serializers.EmailField(
        required=False, allow_null=True, default=None,
        help_text="Email of the affected person; must be in the directory.",
    )  # fmt: skip
    affected_ci = serializers.CharField(
        required=False, allow_null=True, default=None, max_length=150,
        help_text="Name of the affected configuration item; must be in the directory.",
    )  # fmt: skip
    external_reference = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200,
        help_text="The tool's alert id. Sending an id already seen returns that incident "
        "(200) instead of opening another, so retries are safe.",
    )  # fmt: skip
    details = serializers.JSONField(
        required=False, default=dict, allow_null=True,
        help_text="What happened, as fields of the category's schema (docs/rest-api.md), "
        'e.g. {"source_ip": "203.0.113.7", "time": "2026-12-04T07:42:00Z"}.',
    )  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["details"] = details_clean(attrs["category"].slug, attrs.get("details"))
        except DetailsError as error:
            name = error.field.removeprefix("details").lstrip(".")
            raise serializers.ValidationError(
                {"details": {name: [error.message]} if name else [error.message]}
            ) from None
        return attrs

    def validate_short_description(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def validate_category(self, value: str) -> Category:
        category = Category.objects.filter(
            Q(slug=value) | Q(name__iexact=value.strip()), active=True
        ).first()
        if category is None:
            known = ", ".join(Category.objects.filter(active=True).values_list("slug", flat=True))
            raise serializers.ValidationError(f"Unknown category {value!r}. Known: {known}.")
        return category

    def validate_affected_user(self, value: str | None) -> Person | None:
        if not value:
            return None
        person = Person.objects.filter(email=value.lower()).first()
        if person is None:
            raise serializers.ValidationError(
                "No person with this email in the directory; add them first "
                "(/api/directory/people/)."
            )
        return person

    def validate_affected_ci(self, value: str | None) -> ConfigurationItem | None:
        if not value:
            return None
        ci = ConfigurationItem.objects.filter(name=value).first()
        if ci is None:
            raise serializers.ValidationError(
                "No configuration item with this name in the directory; add it first "
                "(/api/directory/cis/)."
            )
        return ci


class TransitionSerializer(serializers.Serializer):
    to_state = serializers.ChoiceField(choices=SecurityIncident.State.choices)
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=5000,
        help_text="Required to close or cancel.",
    )  # fmt: skip


class NoteSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=20000)
    task = serializers.CharField(
        required=False, allow_null=True, default=None, max_length=16,
        help_text="Number of one of the incident's tasks the note is about.",
    )  # fmt: skip

    def validate_task(self, value: str | None) -> ResponseTask | None:
        if not value:
            return None
        task = ResponseTask.objects.filter(incident=self.context["incident"], number=value).first()
        if task is None:
            raise serializers.ValidationError("The incident has no task with this number.")
        return task


class AssignSerializer(serializers.Serializer):
    """Leave a field out to keep that part of the assignment; send null to clear it."""

    analyst = serializers.CharField(
        required=False, allow_null=True, max_length=150, help_text="Username of an analyst."
    )
    group = serializers.CharField(
        required=False, allow_null=True, max_length=150, help_text="Name of a group."
    )

    def validate_analyst(self, value: str | None):
        if value is None:
            return None
        user = get_user_model().objects.filter(username=value, is_active=True).first()
        if user is None or not user.is_staff:
            raise serializers.ValidationError("No active analyst with this username.")
        return user

    def validate_group(self, value: str | None) -> Group | None:
        if value is None:
            return None
        group = Group.objects.filter(name=value).first()
        if group is None:
            raise serializers.ValidationError("No group with this name.")
        return group


class TaskTransitionSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


# --- Incidents, timeline, tasks, evidence -----------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List incidents, newest first"),
    retrieve=extend_schema(summary="An incident by number"),
)
class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    queryset = SecurityIncident.objects.select_related(
        "category", "affected_user", "affected_ci", "assigned_to", "assignment_group"
    )
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    lookup_field = "number"
    lookup_value_regex = NUMBER_PATTERN
    cursor_ordering = ("-opened_at", "-id")  # the incident_opened_idx index
    action_permissions = {"transition": ["change"], "notes": ["change"], "assign": ["change"],
                          "timeline": ["view"]}  # fmt: skip

    @extend_schema(
        summary="Open an incident (idempotent by external_reference)",
        request=IncidentCreateSerializer,
        responses={
            201: IncidentSerializer,
            200: OpenApiResponse(IncidentSerializer, description=_ALREADY_OPENED),
        },
    )
    def create(self, request: Request) -> Response:
        data = self.validated(IncidentCreateSerializer)
        incident, created = incident_open(actor=self.actor, **data)
        return self.answer(incident, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Move the incident to another state",
        request=TransitionSerializer,
        responses={200: IncidentSerializer, 409: _NOT_FROM_THIS_STATE},
    )
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, number: str) -> Response:
        incident = self.get_object()
        data = self.validated(TransitionSerializer)
        return self.answer(incident_transition(actor=self.actor, incident=incident, **data))

    @extend_schema(
        summary="Add a work note",
        request=NoteSerializer,
        responses={201: TimelineEntrySerializer},
    )
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, number: str) -> Response:
        incident = self.get_object()
        data = self.validated(NoteSerializer, incident=incident)
        entry = incident_add_note(actor=self.actor, incident=incident, **data)
        return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Assign to an analyst and/or a group",
        request=AssignSerializer,
        responses={200: IncidentSerializer},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, number: str) -> Response:
        incident = self.get_object()
        data = self.validated(AssignSerializer)
        incident = incident_assign(
            actor=self.actor,
            incident=incident,
            analyst=data.get("analyst", incident.assigned_to),
            group=data.get("group", incident.assignment_group),
        )
        return self.answer(incident)

    @extend_schema(
        summary="The incident's timeline, oldest first",
        responses={200: TimelineEntrySerializer(many=True)},
        filters=True,
    )
    @action(
        detail=True,
        methods=["get"],
        # The timeline lists entries, filtered and permitted as such (view_timelineentry).
        queryset=TimelineEntry.objects.select_related("task"),
        filterset_class=TimelineFilter,
        cursor_ordering=("created_at", "id"),  # the timeline_incident_idx index
    )
    def timeline(self, request: Request, number: str) -> Response:
        incident = get_object_or_404(SecurityIncident.objects.only("pk"), number=number)
        entries = self.filter_queryset(self.get_queryset().filter(incident=incident))
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(TimelineEntrySerializer(page, many=True).data)


class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    queryset = ResponseTask.objects.select_related("incident", "assignee")
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    lookup_field = "number"
    lookup_value_regex = NUMBER_PATTERN
    action_permissions = {"start": ["change"], "complete": ["change"],
                          "mark_incomplete": ["change"]}  # fmt: skip

    def _move(self, to_state: str) -> Response:
        task = self.get_object()
        data = self.validated(TaskTransitionSerializer)
        return self.answer(task_transition(actor=self.actor, task=task, to_state=to_state, **data))

    @extend_schema(summary="Start the task", request=TaskTransitionSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, number: str) -> Response:
        return self._move(ResponseTask.State.IN_PROGRESS)

    @extend_schema(summary="Complete the task", request=TaskTransitionSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, number: str) -> Response:
        return self._move(ResponseTask.State.COMPLETED)

    @extend_schema(summary="Mark the task incomplete", request=TaskTransitionSerializer)
    @action(detail=True, methods=["post"], url_path="mark-incomplete")
    def mark_incomplete(self, request: Request, number: str) -> Response:
        return self._move(ResponseTask.State.INCOMPLETE)


class IsStaff(BasePermission):
    message = "Evidence files are served to staff only."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_staff)


class EvidenceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    queryset = Evidence.objects.select_related("incident", "task")
    serializer_class = EvidenceSerializer
    filterset_class = EvidenceFilter
    lookup_value_regex = ID_PATTERN
    action_permissions = {"download": ["view"]}

    @extend_schema(
        summary="Download the file (always as an attachment; staff only)",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(
        detail=True, methods=["get"], permission_classes=[TokenScope, ModelPermissions, IsStaff]
    )
    def download(self, request: Request, pk: str) -> Any:
        return evidence_download_response(self.get_object())


# --- Directory --------------------------------------------------------------------------


class PersonSerializer(serializers.ModelSerializer):
    manager_email = SlugRelatedField(
        source="manager", slug_field="email", queryset=Person.objects.all(),
        required=False, allow_null=True, help_text="Email of the manager (in the directory).",
    )  # fmt: skip

    class Meta:
        model = Person
        fields = [
            "id", "email", "kind", "first_name", "last_name", "department", "title",
            "language", "manager_email", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_email(self, value: str) -> str:
        value = value.lower()
        others = Person.objects.filter(email=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("A person with this email already exists.")
        return value

    def validate_language(self, value: str) -> str:
        if not _LANGUAGE_CODE.fullmatch(value):
            raise serializers.ValidationError("A language code such as en, de or pt-BR.")
        return value

    def validate_first_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value


class PersonUpsertSerializer(PersonSerializer):
    """One record of a batch: keyed by email, which may already exist."""

    manager_email = serializers.EmailField(required=False, allow_null=True, allow_blank=True)

    class Meta(PersonSerializer.Meta):
        fields = ["email", "kind", "first_name", "last_name", "department", "title",
                  "language", "manager_email"]  # fmt: skip
        extra_kwargs = {"email": {"validators": []}}

    def validate_email(self, value: str) -> str:
        return value.lower()


class ConfigurationItemSerializer(serializers.ModelSerializer):
    owner_email = SlugRelatedField(
        source="owner", slug_field="email", queryset=Person.objects.all(),
        required=False, allow_null=True, help_text="Email of the owner (in the directory).",
    )  # fmt: skip

    class Meta:
        model = ConfigurationItem
        fields = ["id", "name", "kind", "hostname", "ip_address", "owner_email", "created_at",
                  "updated_at"]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value


class ConfigurationItemUpsertSerializer(ConfigurationItemSerializer):
    class Meta(ConfigurationItemSerializer.Meta):
        fields = ["name", "kind", "hostname", "ip_address", "owner_email"]
        extra_kwargs = {"name": {"validators": []}}


class UpsertReportSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class _DirectoryViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ApiViewSet,
):
    lookup_value_regex = ID_PATTERN
    action_permissions = {"upsert": ["add", "change"]}
    upsert_serializer_class: type[serializers.Serializer]

    def perform_create(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.create_service(actor=self.actor, **serializer.validated_data)

    def perform_update(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.update_service(serializer.instance, serializer.validated_data)

    def upsert_rows(self) -> list[dict[str, Any]]:
        serializer = self.upsert_serializer_class(
            data=self.request.data, many=True, max_length=directory.MAX_UPSERT_ROWS
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class PersonViewSet(_DirectoryViewSet):
    queryset = Person.objects.select_related("manager")
    serializer_class = PersonSerializer
    filterset_class = PersonFilter
    upsert_serializer_class = PersonUpsertSerializer

    def create_service(self, **data: Any) -> Person:
        return directory.person_create(**data)

    def update_service(self, person: Person, data: dict[str, Any]) -> Person:
        data = dict(data)
        if "email" in data and data["email"] != person.email:
            raise serializers.ValidationError({"email": ["The email is the directory key and "
                                                         "cannot change."]})  # fmt: skip
        data.pop("email", None)
        return directory.person_update(actor=self.actor, person=person, **data)

    @extend_schema(
        summary="Create or update people by email (HR sync)",
        request=PersonUpsertSerializer(many=True),
        responses={200: UpsertReportSerializer},
    )
    @action(detail=False, methods=["post"])
    def upsert(self, request: Request) -> Response:
        report = directory.people_upsert(actor=self.actor, rows=self.upsert_rows())
        return Response(UpsertReportSerializer(report).data)


class ConfigurationItemViewSet(_DirectoryViewSet):
    queryset = ConfigurationItem.objects.select_related("owner")
    serializer_class = ConfigurationItemSerializer
    filterset_class = ConfigurationItemFilter
    upsert_serializer_class = ConfigurationItemUpsertSerializer

    def create_service(self, **data: Any) -> ConfigurationItem:
        return directory.ci_create(**data)

    def update_service(self, ci: ConfigurationItem, data: dict[str, Any]) -> ConfigurationItem:
        data = dict(data)
        if "name" in data and data["name"] != ci.name:
            raise serializers.ValidationError({"name": ["The name is the directory key and "
                                                        "cannot change."]})  # fmt: skip
        data.pop("name", None)
        return directory.ci_update(actor=self.actor, ci=ci, **data)

    @extend_schema(
        summary="Create or update configuration items by name (CMDB sync)",
        request=ConfigurationItemUpsertSerializer(many=True),
        responses={200: UpsertReportSerializer},
    )
    @action(detail=False, methods=["post"])
    def upsert(self, request: Request) -> Response:
        report = directory.cis_upsert(actor=self.actor, rows=self.upsert_rows())
        return Response(UpsertReportSerializer(report).data)
