"""Stripe webhook endpoint: verify → deduplicate on the event id → store → apply (STYLE 7).

https://docs.stripe.com/webhooks — signature checked with stripe-python, plus a refusal of
timestamps more than 300 s in the future. Anything not verified gets 400 and writes nothing.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.errors import PaymentsNotConfigured
from billing.services import stripe_event_process
from billing.stripe_client import WebhookInvalid, webhook_event_construct
from veosaas import metrics


@csrf_exempt  # Stripe cannot send a CSRF token; the signature authenticates the request.
@login_not_required
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        event = webhook_event_construct(
            payload=request.body, signature_header=request.headers.get("Stripe-Signature", "")
        )
    except PaymentsNotConfigured:
        return JsonResponse({"error": "payments are not configured"}, status=503)
    except WebhookInvalid as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    result = stripe_event_process(event=event)
    if metrics.enabled() and not result.duplicate:
        metrics.stripe_events.labels(type=event.type).inc()
    return JsonResponse(
        {"received": True, "duplicate": result.duplicate, "outcome": result.outcome}
    )
