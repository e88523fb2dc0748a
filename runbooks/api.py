"""REST API of the runbooks: definitions (read-only) and runs, with actions to resume a
failed run or cancel one that has not finished. Routed in api/urls.py."""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.viewsets import ApiViewSet
from incidents.errors import IllegalTransition
from runbooks.filters import RunbookFilter, RunFilter
from runbooks.models import Runbook, RunbookRun, RunbookStep
from runbooks.services import run_cancel, run_retry

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
        fields = ["id", "name", "description", "active", "trigger", "categories",
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
    action_permissions = {"resume": ["change"], "cancel": ["change"]}

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
