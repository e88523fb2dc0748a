"""REST API of the mail flow, read-only: the questions asked and the answers received.
Token hashes, nonces and client fingerprints are never shown. Routed in api/urls.py."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.viewsets import ApiViewSet
from incidents.models import SecurityIncident
from mailflow.campaign_figures import campaign_summary
from mailflow.filters import AnswerFilter, RequestFilter
from mailflow.models import Answer, ConfirmationRequest

ID_PATTERN = r"[0-9]{1,18}"


class OptionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()


class RequestSerializer(serializers.ModelSerializer):
    incident = serializers.SlugRelatedField(slug_field="number", read_only=True)
    task = serializers.SlugRelatedField(slug_field="number", read_only=True)
    options = OptionSerializer(many=True, read_only=True)

    class Meta:
        model = ConfirmationRequest
        fields = [
            "id", "incident", "task", "run", "recipient_email", "language", "question",
            "options", "subject", "evidence_requested", "state", "created_at", "sent_at",
            "delivered_at", "answered_at", "deadline_at", "reminders_sent", "scanner_hits",
        ]  # fmt: skip
        read_only_fields = fields


class AnswerSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="request.incident.number", read_only=True)
    option_label = serializers.SerializerMethodField()
    flags = serializers.ListField(child=serializers.CharField(), read_only=True)
    held = serializers.BooleanField(
        read_only=True, help_text="Kept but not taken while its question is open."
    )

    class Meta:
        model = Answer
        fields = [
            "id", "request", "incident", "option_key", "option_label", "channel", "comment",
            "received_at", "sender", "from_recipient", "counted", "suspected_automated",
            "sender_mismatch", "is_revision", "late", "flags", "held",
        ]  # fmt: skip
        read_only_fields = fields

    def get_option_label(self, answer: Answer) -> str:
        return answer.request.label_of(answer.option_key)


class RequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    queryset = ConfirmationRequest.objects.select_related("incident", "task")
    serializer_class = RequestSerializer
    filterset_class = RequestFilter
    lookup_value_regex = ID_PATTERN


class AnswerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    queryset = Answer.objects.select_related("request__incident")
    serializer_class = AnswerSerializer
    filterset_class = AnswerFilter
    lookup_value_regex = ID_PATTERN


class CampaignOutcomeSerializer(serializers.Serializer):
    key = serializers.CharField(
        help_text="answer:<option key> for an option; otherwise suspicious, unrecognised, "
        "held, waiting, no_answer, undeliverable or cancelled."
    )
    label = serializers.CharField()
    count = serializers.IntegerField()


class CampaignSerializer(serializers.Serializer):
    incident = serializers.CharField(help_text="The incident's number.")
    total = serializers.IntegerField(help_text="Questions asked on the incident.")
    sent = serializers.IntegerField(help_text="Of those, emailed.")
    sending = serializers.BooleanField(help_text="Some emails have not gone out yet.")
    open = serializers.IntegerField(help_text="Still waiting for an answer.")
    answered = serializers.IntegerField()
    done = serializers.BooleanField(help_text="No question is open any more.")
    outcomes = CampaignOutcomeSerializer(many=True)


class CampaignView(generics.GenericAPIView):
    """Routed in api/urls.py under the incident, which cannot import mailflow."""

    # Model permissions read the questions' (view_confirmationrequest); the incident's
    # view permission is checked as well.
    queryset = ConfirmationRequest.objects.none()
    serializer_class = CampaignSerializer
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        summary="The incident's campaign: everyone asked, counted by outcome",
        parameters=[
            OpenApiParameter("number", str, OpenApiParameter.PATH, description="INC number")
        ],
        responses={200: CampaignSerializer},
    )
    def get(self, request: Request, number: str) -> Response:
        if not request.user.has_perm("incidents.view_securityincident"):
            raise PermissionDenied
        incident = get_object_or_404(SecurityIncident, number=number)
        return Response(CampaignSerializer(campaign_summary(incident)).data)
