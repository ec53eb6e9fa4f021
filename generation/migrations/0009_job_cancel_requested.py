from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('generation', '0008_job_generate_audio'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='cancel_requested_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
