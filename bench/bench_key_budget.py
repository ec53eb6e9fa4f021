"""Per-key budgets: holds per second on ONE account from 8 threads with a budgeted API key,
against the same holds with an unlimited key, in the same run. Each budgeted hold does what
`job_submit` does: find the key's period usage row (`key_budget_open`), then hold with the
budget's guarded UPDATE in the hold's own statement. Goal: ratio >= 0.8."""

from __future__ import annotations

import uuid

from bench.common import setup_django, threaded_rate

THREADS = 8
SECONDS = 2.0
# Rounds alternate which side runs first (plain-budgeted, budgeted-plain, …): the account's
# row, the ledger and its indexes only grow during a run, so a fixed order would always hand
# the second side the larger tables, and load from elsewhere on the machine hits both alike.
ROUNDS = 4


def run() -> list[dict]:
    vendor = setup_django()
    from accounts.models import User
    from accounts.services import api_key_create, api_key_limits_set
    from billing.services import credits_grant, credits_hold, key_budget_open

    run_id = uuid.uuid4().hex[:8]
    user = User.objects.create_user(email=f"bench-budget-{run_id}@example.com")
    credits_grant(user=user, amount=10**12, idempotency_key=f"bench:{run_id}")
    unlimited = api_key_create(user=user, name="unlimited").api_key
    budgeted = api_key_create(user=user, name="budgeted").api_key
    budgeted = api_key_limits_set(
        api_key=budgeted,
        changes={"budget_credits": 10**12, "budget_period": "month"},
        actor=None,
        via="bench",
    )

    def hold_with(key, label: str):  # type: ignore[no-untyped-def]
        def hold(index: int, n: int) -> None:
            credits_hold(
                user=user,
                amount=1,
                idempotency_key=f"bench:{run_id}:{label}:{index}:{n}",
                budget=key_budget_open(api_key=key),
            )

        return hold

    plain_rates, limited_rates = [], []
    for round_no in range(ROUNDS):
        sides = [(plain_rates, unlimited, "p"), (limited_rates, budgeted, "b")]
        for rates, key, label in sides[:: 1 if round_no % 2 == 0 else -1]:
            rates.append(threaded_rate(THREADS, SECONDS, hold_with(key, f"{label}{round_no}")))
    plain = sum(plain_rates) / ROUNDS
    limited = sum(limited_rates) / ROUNDS
    note = "" if vendor == "postgresql" else "PostgreSQL unreachable: measured on SQLite"
    return [
        {
            "name": f"holds/s one account budgeted key vs unlimited key, {THREADS} threads "
            f"({vendor})",
            "value": limited,
            "unit": "holds/s",
            "baseline": plain,
            "ratio": limited / plain,
            "goal": ">= 0.8",
            "note": note or "baseline: the same holds with an unlimited key",
        }
    ]
