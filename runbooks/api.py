"""REST API of the runbooks: definitions (read-only) and runs, with actions to resume a
failed run or cancel one that has not finished. Routed in api/urls.py."""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.viewsets import ApiViewSet
from core.errors import IllegalTransition
from incidents.models import Person, SecurityIncident
from runbooks.filters import RunbookFilter, RunFilter
from runbooks.models import Runbook, RunbookRun, RunbookStep
from runbooks.services import run_cancel, run_retry
from runbooks.starting import runbook_matches, runs_start_for_people

MAX_PEOPLE = 50_000

ID_PATTERN = r"[0-9]{1,18}"


class RunbookStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunbookStep
        fields = ["position", "action", "guard", "guard_outcomes", "params"]
        read_only_fields = fields


class RunbookSerializer(serializers.ModelSerializer):
    categories = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    steps = RunbookStepSerializer(many=True, read_only=True)

    class Meta:
        model = Runbook
        fields = ["id", "name", "description", "language", "active", "trigger", "categories",
                  "min_priority", "version", "updated_at", "steps"]  # fmt: skip
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    runbook = serializers.SlugRelatedField(slug_field="name", read_only=True)
    incident = serializers.SlugRelatedField(slug_field="number", read_only=True)
    outcome = serializers.SerializerMethodField(help_text="The answer the run continued with.")

    class Meta:
        model = RunbookRun
        fields = ["id", "runbook", "version", "incident", "state", "position", "outcome",
                  "attempts", "error", "created_at", "updated_at", "finished_at"]  # fmt: skip
        read_only_fields = fields

    def get_outcome(self, run: RunbookRun) -> str | None:
        return run.context.get("outcome")


class AskPeopleSerializer(serializers.Serializer):
    incident = serializers.SlugRelatedField(
        slug_field="number", queryset=SecurityIncident.objects.all(), help_text="SIR number."
    )
    runbook = serializers.SlugRelatedField(
        slug_field="name", queryset=Runbook.objects.filter(active=True),
        help_text="Name of an active runbook whose conditions the incident meets.",
    )  # fmt: skip
    people = serializers.ListField(
        child=serializers.EmailField(), min_length=1, max_length=MAX_PEOPLE,
        help_text="Email addresses of people in the directory (a message trace's recipients).",
    )  # fmt: skip

    def validate(self, data: dict) -> dict:
        if not runbook_matches(data["runbook"], data["incident"]):
            raise serializers.ValidationError(
                {"runbook": "The incident does not meet this runbook's conditions."}
            )
        addresses = {address.lower() for address in data["people"]}
        people = list(Person.objects.filter(email__in=addresses))
        unknown = sorted(addresses - {person.email.lower() for person in people})
        if unknown:
            raise serializers.ValidationError(
                {"people": [f"Not in the directory: {', '.join(unknown[:50])}"]}
            )
        return {**data, "people": people}


class AskPeopleResultSerializer(serializers.Serializer):
    started = serializers.IntegerField(help_text="People asked now, one run each.")
    already_asked = serializers.IntegerField(help_text="Skipped: this runbook asks them already.")


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class RunbookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    queryset = Runbook.objects.prefetch_related(
        "categories", Prefetch("steps", RunbookStep.objects.order_by("position"))
    )
    serializer_class = RunbookSerializer
    filterset_class = RunbookFilter
    lookup_value_regex = ID_PATTERN


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    # Without `definition` and `context` loaded per run, a page of runs stays small; the
    # outcome comes from the context, so that one is kept.
    queryset = RunbookRun.objects.select_related("runbook", "incident").defer("definition")
    serializer_class = RunSerializer
    filterset_class = RunFilter
    lookup_value_regex = ID_PATTERN
    action_permissions = {"resume": ["change"], "cancel": ["change"], "ask_people": ["change"]}

    @extend_schema(
        summary="Ask many people about an incident, one run of a runbook each",
        description="Everyone a phishing email reached, say: each person gets their own run, "
        "email and branch. People already asked by this runbook on this incident are "
        "skipped, so a retried or extended list asks only the new ones. All or nothing: "
        "an address not in the directory refuses the whole list.",
        request=AskPeopleSerializer,
        responses={201: AskPeopleResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="ask-people")
    def ask_people(self, request: Request) -> Response:
        data = self.validated(AskPeopleSerializer)
        started = runs_start_for_people(actor=self.actor, **data)
        result = {"started": len(started), "already_asked": len(data["people"]) - len(started)}
        return Response(AskPeopleResultSerializer(result).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Resume a failed run at the step that failed",
        request=None,
        responses={200: RunSerializer, 409: OpenApiResponse(description="Not failed.")},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        if run.state != RunbookRun.State.FAILED:
            raise IllegalTransition(f"Only a failed run can be resumed; this one is {run.state}.")
        run_retry(run=run, actor=self.actor)
        return self.answer(self.get_object())

    @extend_schema(
        summary="Cancel a run that has not finished (waiting, running or failed)",
        request=CancelSerializer,
        responses={200: RunSerializer, 409: OpenApiResponse(description="Already finished.")},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        data = self.validated(CancelSerializer)
        if not run_cancel(run=run, actor=self.actor, **data):
            raise IllegalTransition(f"The run has already finished ({run.state}).")
        return self.answer(self.get_object())
