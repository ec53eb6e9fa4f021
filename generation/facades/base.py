"""The base view of every facade: authentication, one error renderer, one refusal table.

A facade endpoint calls `job_submit` (or an upgrade service) and lets any refusal propagate:
`SubmitRefused` (generation/errors.py) or billing's `InsufficientCredits`. `FacadeApi`
translates it through the facade's `error_table` into the exception the facade renders (its
own error class or a `FieldError`), then renders that with `render_exception`. So the mapping
from refusals to a wire answer is written once per facade, as a table, and applied in one
place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import KeyScopePermission
from accounts.typing import AuthenticatedRequest
from billing.errors import InsufficientCredits
from generation.errors import JobValidationError, SubmitRefused
from generation.facades.common import FieldError
from veosaas.strict import request_error_translate

# A rule turns a refusal into what the facade raises (its error class or a FieldError).
ErrorRule = Callable[["FacadeApi", Any], Exception]
REFUSALS: tuple[type[Exception], ...] = (SubmitRefused, InsufficientCredits)


def validation_rule(field_names: Mapping[str, str]) -> ErrorRule:
    """The rule for JobValidationError: a FieldError naming the field as the client sent it.

    The view's `field_aliases` (set per request, e.g. the aspect ratio key the client used)
    win over the facade's `field_names`; unknown fields keep the service's name.
    """

    def rule(view: FacadeApi, exc: JobValidationError) -> Exception:
        aliases: Mapping[str, str] = getattr(view, "field_aliases", {})
        field = aliases.get(exc.field) or field_names.get(exc.field, exc.field)
        return FieldError(field, exc.message)

    return rule


class FacadeApi(APIView):
    """One facade endpoint. Subclasses set `authentication_classes`, `error_table` and
    implement `render_exception` (the facade's whole error envelope). A view may set
    `self.field_aliases` before submitting, to name fields as this request spelled them.

    An API key needs the endpoint's scope (accounts.authentication.required_scope: `read` for
    GET, `generate` for POST unless the view sets `key_scope`); without it the facade answers
    403 in its own format."""

    permission_classes = [IsAuthenticated, KeyScopePermission]
    request: AuthenticatedRequest
    # Refusal class -> rule; looked up along the refusal's class hierarchy.
    error_table: ClassVar[Mapping[type[Exception], ErrorRule]] = {}

    def refusal_translate(self, exc: Exception) -> Exception:
        """The facade's exception for a refusal; the refusal itself when the table has none
        (it is then rendered as an unexpected error)."""
        for klass in type(exc).__mro__:
            rule = self.error_table.get(klass)
            if rule is not None:
                return rule(self, exc)
        return exc

    def handle_exception(self, exc: Exception) -> Response:
        # Django's request limits (too large, too many fields/files) as the facade's 4xx.
        exc = request_error_translate(exc)
        if isinstance(exc, REFUSALS):
            exc = self.refusal_translate(exc)
        return self.render_exception(exc)

    def render_exception(self, exc: Exception) -> Response:
        raise NotImplementedError
