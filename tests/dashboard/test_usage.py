"""Usage records (`GET /api/v1/account/usage`, CSV) and the per-day summary
(`GET /api/v1/account/usage/daily`): they agree with the ledger, paginate stably under
concurrent inserts, filter, stay scoped to the account and cost a fixed number of queries."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.services import api_key_create
from billing.models import Transfer
from billing.selectors import balance_get, ledger_inconsistencies
from billing.services import (
    SYSTEM_TOPUPS,
    credits_adjust,
    credits_capture,
    credits_clawback,
    credits_grant,
    credits_hold,
    credits_release,
)
from generation.models import Job
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

USAGE = "/api/v1/account/usage"
DAILY = "/api/v1/account/usage/daily"


@pytest.fixture(autouse=True)
def _ledger_stays_consistent(db: None) -> Any:
    yield
    assert ledger_inconsistencies() == []


@pytest.fixture
def account(db: None) -> Any:
    """A user with an API key named "prod" and a client authenticated with it."""
    user = UserFactory()
    created = api_key_create(user=user, name="prod")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.token}")
    client.user = user
    client.key = created.api_key
    return client


def new_job(user: Any, api_key: Any = None, facade: str = "veo3api", **fields: Any) -> Job:
    return Job.objects.create(
        user=user, api_key=api_key, facade=facade, prompt="A lighthouse", **fields
    )


def hold_for(job: Job, amount: int) -> Transfer:
    return credits_hold(
        user=job.user, amount=amount, idempotency_key=f"job:{job.id}:hold", job_id=job.id
    )


def key() -> str:
    return f"test:{uuid.uuid4()}"


def fetch_all(client: APIClient, limit: int = 3, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        body = client.get(USAGE, query).json()
        assert body["code"] == 200, body
        rows.extend(body["data"]["records"])
        cursor = body["data"]["next_cursor"]
        if cursor is None:
            return rows


def csv_rows(client: APIClient, **params: Any) -> list[dict[str, str]]:
    response = client.get(USAGE, {"format": "csv", **params})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def history(account: APIClient) -> dict[str, Any]:
    """Every kind of ledger entry on one account, with jobs from two facades."""
    user, api_key = account.user, account.key
    credits_grant(user=user, amount=1000, idempotency_key=key(), reason="signup grant")
    credits_grant(
        user=user,
        amount=500,
        idempotency_key=key(),
        kind=Transfer.Kind.TOPUP,
        source=SYSTEM_TOPUPS,
        reason="pack",
    )
    charged = new_job(user, api_key)
    credits_capture(hold=hold_for(charged, 80), reason="job succeeded")
    failed = new_job(user, api_key, facade="veo3o1")
    credits_release(hold=hold_for(failed, 40), reason="job failed")
    partial = new_job(user, api_key)
    credits_capture(hold=hold_for(partial, 30), amount=20)
    expired = new_job(user, None, facade="dashboard")
    credits_release(hold=hold_for(expired, 25), expired=True, reason="hold expired")
    open_hold = new_job(user, api_key, facade="codefast")
    hold_for(open_hold, 15)
    staff = UserFactory(is_staff=True)
    credits_adjust(
        user=user, amount=-50, actor=staff, reason="goodwill reversal", idempotency_key=key()
    )
    credits_clawback(user=user, amount=10, idempotency_key=key(), reason="refund")
    return {
        "charged": charged,
        "failed": failed,
        "partial": partial,
        "expired": expired,
        "open": open_hold,
    }


# ---------------------------------------------------------------------------------------------
# Agreement with the ledger
# ---------------------------------------------------------------------------------------------


def test_usage_amounts_sum_to_the_balance_and_each_row_carries_the_balance_after_it(
    account: APIClient, history: dict[str, Any]
) -> None:
    rows = fetch_all(account)
    assert len(rows) == Transfer.objects.filter(job_id__isnull=False).count() + 4
    available = balance_get(user=account.user).available
    assert sum(r["amount"] for r in rows) == available == 1500 - 80 - 20 - 15 - 50 - 10
    running = 0
    for row in reversed(rows):  # oldest first: each row moves the balance by its amount
        running += row["amount"]
        assert row["balance_after"] == running, row
    times = [r["created_at"] for r in rows]
    assert times == sorted(times, reverse=True)  # newest first


def test_usage_rows_show_signed_customer_amounts_and_the_job_facade_and_key(
    account: APIClient, history: dict[str, Any]
) -> None:
    rows = fetch_all(account, limit=200)
    by_job: dict[str | None, list[dict[str, Any]]] = {}
    for row in rows:
        by_job.setdefault(row["job_id"], []).append(row)

    def shape(job: Job) -> list[tuple[str, str, int, int]]:
        return sorted(
            (r["kind"], r["entry"], r["amount"], r["charged"]) for r in by_job[str(job.id)]
        )

    assert shape(history["charged"]) == [("capture", "capture", 0, 80), ("hold", "hold", -80, 0)]
    assert shape(history["failed"]) == [("hold", "hold", -40, 0), ("release", "release", 40, 0)]
    assert shape(history["partial"]) == [("capture", "capture", 10, 20), ("hold", "hold", -30, 0)]
    assert shape(history["expired"]) == [("hold", "hold", -25, 0), ("release", "expire", 25, 0)]
    assert shape(history["open"]) == [("hold", "hold", -15, 0)]
    charged = by_job[str(history["charged"].id)]
    assert {(r["facade"], r["api_key_name"]) for r in charged} == {("veo3api", "prod")}
    assert {r["facade"] for r in by_job[str(history["failed"].id)]} == {"veo3o1"}
    assert {(r["facade"], r["api_key_name"]) for r in by_job[str(history["expired"].id)]} == {
        ("dashboard", None)
    }
    no_job = sorted((r["kind"], r["amount"], r["facade"]) for r in by_job[None])
    assert no_job == [
        ("adjustment", -50, None),
        ("clawback", -10, None),
        ("grant", 1000, None),
        ("top-up", 500, None),
    ]
    assert {r["reason"] for r in by_job[None]} >= {"signup grant", "goodwill reversal"}


def test_csv_has_the_same_rows_as_the_pages_and_every_matching_row(
    account: APIClient, history: dict[str, Any]
) -> None:
    pages = fetch_all(account, limit=2)
    rows = csv_rows(account)
    assert [r["id"] for r in rows] == [p["id"] for p in pages]
    assert [int(r["amount"]) for r in rows] == [p["amount"] for p in pages]
    assert sum(int(r["amount"]) for r in rows) == balance_get(user=account.user).available
    assert rows[0].keys() == {
        "id",
        "created_at",
        "kind",
        "amount",
        "charged",
        "balance_after",
        "job_id",
        "facade",
        "api_key_name",
        "reason",
    }
    # Filters apply to the export too; `limit` and `cursor` do not (all rows, not one page).
    holds = csv_rows(account, kind="hold", limit=1)
    assert len(holds) == 5 and {r["kind"] for r in holds} == {"hold"}
    # One kind column; an expired hold's release says so in it.
    releases = csv_rows(account, kind="release")
    assert sorted(r["kind"] for r in releases) == ["release", "release (expire)"]


def test_csv_text_cells_cannot_become_spreadsheet_formulas(account: APIClient) -> None:
    credits_grant(
        user=account.user,
        amount=5,
        idempotency_key=key(),
        reason='=HYPERLINK("http://x")',
    )
    (row,) = csv_rows(account)
    assert row["reason"] == '\'=HYPERLINK("http://x")'


# ---------------------------------------------------------------------------------------------
# Pagination
# ---------------------------------------------------------------------------------------------


def test_pages_are_stable_when_entries_are_written_between_fetches(account: APIClient) -> None:
    user = account.user
    existing = [
        credits_grant(user=user, amount=n + 1, idempotency_key=key()).uid for n in range(23)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        data = account.get(USAGE, params).json()["data"]
        seen.extend(r["id"] for r in data["records"])
        # Someone spends and tops up between the client's page fetches.
        credits_hold(user=user, amount=1, idempotency_key=key())
        credits_grant(user=user, amount=7, idempotency_key=key())
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))  # no duplicates
    assert seen == [str(uid) for uid in reversed(existing)]  # no gaps, newest first


def test_entries_with_the_same_timestamp_are_paged_by_id(account: APIClient) -> None:
    user = account.user
    with time_machine.travel(datetime(2025, 6, 1, 12, tzinfo=UTC), tick=False):
        uids = [credits_grant(user=user, amount=1, idempotency_key=key()).uid for _ in range(7)]
    rows = fetch_all(account, limit=2)
    assert [r["id"] for r in rows] == [str(u) for u in reversed(uids)]


def test_list_query_count_does_not_grow_with_page_size(
    account: APIClient, django_assert_max_num_queries: Any
) -> None:
    user, api_key = account.user, account.key
    credits_grant(user=user, amount=10_000, idempotency_key=key())
    for _ in range(60):
        job = new_job(user, api_key)
        credits_capture(hold=hold_for(job, 5))
    account.get(USAGE, {"limit": 1})  # warm the key cache and last-used stamp
    counts = {}
    for limit in (5, 200):
        with CaptureQueriesContext(connection) as queries:
            body = account.get(USAGE, {"limit": limit}).json()
        assert len(body["data"]["records"]) == min(limit, 121)
        counts[limit] = len(queries)
    assert counts[5] == counts[200]
    with django_assert_max_num_queries(4):
        account.get(USAGE, {"limit": 200, "kind": "capture,hold"})


# ---------------------------------------------------------------------------------------------
# Filters and bad input
# ---------------------------------------------------------------------------------------------


def test_kind_filter_maps_api_kinds_onto_ledger_kinds(
    account: APIClient, history: dict[str, Any]
) -> None:
    releases = fetch_all(account, kind="release")
    assert sorted(r["entry"] for r in releases) == ["expire", "release"]
    both = fetch_all(account, kind="top-up, grant")
    assert sorted(r["kind"] for r in both) == ["grant", "top-up"]
    assert {r["kind"] for r in fetch_all(account, kind="topup")} == {"top-up"}
    assert [r["kind"] for r in fetch_all(account, kind="adjustment")] == ["adjustment"]


def test_job_filter_accepts_the_uuid_or_the_veo3api_task_id(
    account: APIClient, history: dict[str, Any]
) -> None:
    job = history["charged"]
    rows = fetch_all(account, job_id=str(job.id))
    assert sorted(r["kind"] for r in rows) == ["capture", "hold"]
    assert fetch_all(account, job_id=job.task_id) == rows


def test_date_range_includes_the_whole_to_day_in_the_usage_time_zone(
    account: APIClient, settings: Any
) -> None:
    settings.TIME_ZONE = "Europe/Istanbul"  # UTC+3
    user = account.user
    moments = {
        "before": datetime(2025, 3, 9, 20, 59, tzinfo=UTC),  # 9 Mar 23:59 local
        "first": datetime(2025, 3, 9, 21, 0, tzinfo=UTC),  # 10 Mar 00:00 local
        "last": datetime(2025, 3, 11, 20, 59, 59, tzinfo=UTC),  # 11 Mar 23:59:59 local
        "after": datetime(2025, 3, 11, 21, 0, tzinfo=UTC),  # 12 Mar 00:00 local
    }
    uids = {}
    for name, moment in moments.items():
        with time_machine.travel(moment, tick=False):
            uids[name] = str(credits_grant(user=user, amount=1, idempotency_key=key()).uid)
    rows = fetch_all(account, **{"from": "2025-03-10", "to": "2025-03-11"})
    assert [r["id"] for r in rows] == [uids["last"], uids["first"]]
    # Date-times are inclusive bounds; without an offset they are local times.
    rows = fetch_all(account, **{"from": "2025-03-10T00:00:00", "to": "2025-03-11T20:59:59Z"})
    assert [r["id"] for r in rows] == [uids["last"], uids["first"]]
    rows = fetch_all(account, **{"from": "2025-03-11T23:59:59+03:00"})
    assert [r["id"] for r in rows] == [uids["after"], uids["last"]]
    # A "+" left unencoded in a query string arrives as a space.
    unencoded = account.get(f"{USAGE}?from=2025-03-11T23:59:59+03:00").json()["data"]
    assert [r["id"] for r in unencoded["records"]] == [uids["after"], uids["last"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"kind": "refund"}, "kind"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2025-02-30"}, "to"),
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from"),
        ({"job_id": "not-a-job"}, "job_id"),
        ({"cursor": "forged"}, "cursor"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_query_parameters_answer_422_naming_the_field(
    account: APIClient, params: dict[str, str], field: str
) -> None:
    response = account.get(USAGE, params)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == 422 and body["data"] is None
    assert body["msg"].startswith(f"{field}: "), body


def test_a_cursor_is_tamper_proof(account: APIClient) -> None:
    user = account.user
    for _ in range(3):
        credits_grant(user=user, amount=1, idempotency_key=key())
    cursor = account.get(USAGE, {"limit": 1}).json()["data"]["next_cursor"]
    forged = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert account.get(USAGE, {"cursor": forged}).status_code == 422


def test_usage_needs_a_bearer_key(db: None) -> None:
    response = APIClient().get(USAGE)
    assert response.status_code == 401
    assert response.json()["msg"].startswith("authorization: ")
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer nope")
    assert bad.get(DAILY).status_code == 401


def test_rows_of_other_accounts_are_never_listed(
    account: APIClient, history: dict[str, Any]
) -> None:
    other = UserFactory()
    credits_grant(user=other, amount=999, idempotency_key=key())
    theirs = new_job(other)
    credits_capture(hold=hold_for(theirs, 9))
    mine = {r["id"] for r in fetch_all(account, limit=200)}
    theirs_uids = {
        str(t.uid)
        for t in Transfer.objects.filter(debit_account__user=other)
        | Transfer.objects.filter(credit_account__user=other)
    }
    assert mine.isdisjoint(theirs_uids)
    assert fetch_all(account, job_id=str(theirs.id)) == []
    assert csv_rows(account, job_id=str(theirs.id)) == []


def test_an_account_without_a_ledger_has_no_usage(account: APIClient) -> None:
    body = account.get(USAGE).json()
    assert body == {
        "code": 200,
        "msg": "success",
        "data": {"records": [], "next_cursor": None, "time_zone": body["data"]["time_zone"]},
    }
    assert csv_rows(account) == []


# ---------------------------------------------------------------------------------------------
# Per-day summary
# ---------------------------------------------------------------------------------------------


def test_daily_summary_counts_per_local_day(account: APIClient, settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Istanbul"  # UTC+3
    user, api_key = account.user, account.key
    with time_machine.travel(datetime(2025, 3, 9, 10, tzinfo=UTC), tick=False):
        credits_grant(user=user, amount=1000, idempotency_key=key())
    # 22:30 UTC on the 10th is 01:30 on the 11th in Istanbul.
    with time_machine.travel(datetime(2025, 3, 10, 22, 30, tzinfo=UTC), tick=False):
        done = new_job(
            user,
            api_key,
            state=Job.State.SUCCEEDED,
            video_file="v.mp4",
            completed_at=datetime(2025, 3, 10, 22, 30, tzinfo=UTC),
        )
        credits_capture(hold=hold_for(done, 40))
        failed = new_job(
            user,
            api_key,
            state=Job.State.FAILED,
            completed_at=datetime(2025, 3, 10, 22, 30, tzinfo=UTC),
        )
        credits_release(hold=hold_for(failed, 20))
    with time_machine.travel(datetime(2025, 3, 10, 12, tzinfo=UTC), tick=False):
        credits_capture(hold=hold_for(new_job(user, api_key), 7))
        credits_grant(
            user=user,
            amount=300,
            idempotency_key=key(),
            kind=Transfer.Kind.TOPUP,
            source=SYSTEM_TOPUPS,
        )
    body = account.get(DAILY, {"from": "2025-03-09", "to": "2025-03-12"}).json()
    assert body["code"] == 200
    assert body["data"]["time_zone"] == "Europe/Istanbul"
    days = {
        d["date"]: (d["credits_used"], d["credits_added"], d["jobs_succeeded"], d["jobs_failed"])
        for d in body["data"]["days"]
    }
    assert days == {
        "2025-03-09": (0, 1000, 0, 0),
        "2025-03-10": (7, 300, 0, 0),
        "2025-03-11": (40, 0, 1, 1),
        "2025-03-12": (0, 0, 0, 0),
    }


def test_daily_summary_defaults_to_the_last_thirty_days(account: APIClient) -> None:
    data = account.get(DAILY).json()["data"]
    assert len(data["days"]) == 30
    assert data["days"][-1]["date"] == data["to"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-03-05", "to": "2025-03-01"}, "from"),
        ({"from": "2023-01-01", "to": "2025-01-01"}, "from"),
        ({"to": "31.12.2025"}, "to"),
    ],
)
def test_daily_summary_rejects_bad_ranges(
    account: APIClient, params: dict[str, str], field: str
) -> None:
    response = account.get(DAILY, params)
    assert response.status_code == 422
    assert response.json()["msg"].startswith(f"{field}: ")


def test_daily_summary_query_count_does_not_grow_with_the_range(
    account: APIClient, django_assert_max_num_queries: Any
) -> None:
    credits_grant(user=account.user, amount=5, idempotency_key=key())
    account.get(DAILY)
    with django_assert_max_num_queries(5):
        assert (
            len(
                account.get(DAILY, {"from": "2024-06-01", "to": "2025-05-31"}).json()["data"][
                    "days"
                ]
            )
            == 365
        )


def test_usage_now_is_within_the_default_window(account: APIClient) -> None:
    credits_grant(user=account.user, amount=5, idempotency_key=key())
    today = account.get(DAILY).json()["data"]["days"][-1]
    assert today["credits_added"] == 5
