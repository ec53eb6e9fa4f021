from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('generation', '0009_job_person_generation'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='cancel_requested_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
