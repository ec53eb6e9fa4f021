import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0010_job_cancel_requested"),
    ]

    operations = [
        # The job a /v1/videos remix was made from (same inputs, a new prompt).
        migrations.AddField(
            model_name="job",
            name="remixed_from",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="remixes",
                to="generation.job",
            ),
        ),
        migrations.AlterField(
            model_name="job",
            name="facade",
            field=models.CharField(
                choices=[
                    ("veo3o1", "veo3o1"),
                    ("veo3api", "veo3api / kie"),
                    ("codefast", "codefast"),
                    ("openai", "OpenAI-style /v1/videos"),
                    ("dashboard", "Dashboard"),
                ],
                max_length=16,
            ),
        ),
    ]
