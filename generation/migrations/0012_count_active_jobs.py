"""Fill LedgerAccount.active_jobs with each account's queued and running jobs."""

from django.db import migrations
from django.db.models import Count, Q


def count_active(apps, schema_editor):  # type: ignore[no-untyped-def]
    Job = apps.get_model("generation", "Job")
    LedgerAccount = apps.get_model("billing", "LedgerAccount")
    active = (
        Job.objects.filter(state__in=["queued", "running"])
        .values("user_id")
        .annotate(n=Count("id", filter=Q(state__in=["queued", "running"])))
    )
    for row in active:
        LedgerAccount.objects.filter(user_id=row["user_id"]).update(active_jobs=row["n"])


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0011_job_remixed_from"),
        ("billing", "0010_ledgeraccount_active_jobs"),
    ]

    operations = [migrations.RunPython(count_active, migrations.RunPython.noop)]
