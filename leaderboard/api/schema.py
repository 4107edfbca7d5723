"""The OpenAPI schema's error responses: every operation declares the 4xx answers the API can give it.

drf-spectacular documents the success bodies only, so a client (or schemathesis, tests/api/test_schemathesis.py)
meeting a 400, 401, 404 or 429 finds it nowhere. `AutoSchema` adds those that follow from the view itself (a body or
query to validate, authentication, permissions, path parameters, pages, throttles); a view declares the rest it
raises itself (409, 413, a 404 without a path parameter) with `error_response` in its `extend_schema`.
"""
from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny

ERROR_COMPONENT = ResolvedComponent(
    name="Error", type=ResolvedComponent.SCHEMA, object="Error",
    schema={
        "type": "object",
        "description": "`detail` says what went wrong; a refused field also appears under its own name.",
        "properties": {
            "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {}}, {"type": "object"}]},
        },
        "additionalProperties": {},
    },
)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def error_response(description: str) -> OpenApiResponse:
    """An error answer for `extend_schema(responses={code: error_response("why")})`."""
    return OpenApiResponse(response=ERROR_COMPONENT.ref, description=description)


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        self.registry.register_on_missing(ERROR_COMPONENT)
        for code, description in self._error_statuses().items():
            responses.setdefault(str(code), self._get_response_for_code(error_response(description), str(code)))
        return dict(sorted(responses.items()))

    def _error_statuses(self) -> dict[int, str]:
        view, statuses = self.view, {}
        if self.method in UNSAFE_METHODS or self._get_filter_parameters() or self._get_pagination_parameters() \
                or self.get_override_parameters():
            statuses[400] = "The request is not valid: `detail` and the fields at fault say why"
        authenticators = view.get_authenticators()
        if authenticators:
            statuses[401] = "The token is unknown, or the operation needs one"
        if self.method in UNSAFE_METHODS and (
                any(isinstance(auth, SessionAuthentication) for auth in authenticators)
                or any(not isinstance(permission, AllowAny) for permission in view.get_permissions())):
            statuses[403] = "Not allowed for this user (or a session request without its CSRF token)"
        if "{" in self.path or (self._is_list_view() and self._get_paginator() is not None):
            statuses[404] = "No such object visible to you (or no such page)"
        if view.get_throttles():
            statuses[429] = "Rate limited: retry after the `Retry-After` header's seconds"
        return statuses
