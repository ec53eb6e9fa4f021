from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("billing", "0009_key_budgets")]

    operations = [
        migrations.AddField(
            model_name="ledgeraccount",
            name="active_jobs",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
    ]
