"""The base of every API view set: who acts, how input is checked, and how a service's
result is answered. Views only check input and call services."""

from typing import Any

from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from core.actors import Actor
from core.api.authentication import request_actor


class ApiViewSet(viewsets.GenericViewSet):
    # Action name -> permission verbs on the view's model ("view", "add", "change"), for
    # actions whose HTTP method alone says too little (a POST that changes state).
    action_permissions: dict[str, list[str]] = {}
    # The cursor pagination's order (core.api.pagination.Cursor): indexed, ending in a unique key.
    cursor_ordering: tuple[str, ...] = ("id",)

    @property
    def actor(self) -> Actor:
        return request_actor(self.request)

    def validated(self, serializer_class: type[serializers.Serializer], **context: Any) -> Any:
        """The request body checked by `serializer_class`: 400 with field messages if not."""
        serializer = serializer_class(
            data=self.request.data, context={**self.get_serializer_context(), **context}
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def answer(self, instance: Any, code: int = status.HTTP_200_OK, **kwargs: Any) -> Response:
        """The record a service returned, as the view set's serializer shows it."""
        return Response(self.get_serializer(instance, **kwargs).data, status=code)
