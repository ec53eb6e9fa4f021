from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0008_job_generate_audio"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="person_generation",
            field=models.CharField(blank=True, default="", max_length=20),
        ),
    ]
