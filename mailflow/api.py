"""REST API of the mail flow, read-only: the questions asked and the answers received.
Token hashes, nonces and client fingerprints are never shown. Routed in api/urls.py."""

from rest_framework import mixins, serializers

from core.api.viewsets import ApiViewSet
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
