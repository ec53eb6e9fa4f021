"""Groups for finance staff (users must also be `is_staff` to log in to the admin).

"Finance": read the ledger, accounts, top-ups, packs and Stripe events; export CSV; request
adjustments; look customers up (view users, for the adjustment form's customer picker).
It cannot approve: maker-checker needs a second, deliberately chosen person.

"Finance approvers": an add-on for those people, holding only `approve_adjustmentrequest`
(plus view on requests). Put an approver in both groups. The service still refuses anyone
approving their own request, whatever their groups.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

FINANCE = "Finance"
FINANCE_APPROVERS = "Finance approvers"

GROUPS = {
    FINANCE: [
        ("billing", "view_ledgeraccount"),
        ("billing", "view_transfer"),
        ("billing", "export_transfer"),
        ("billing", "view_topup"),
        ("billing", "export_topup"),
        ("billing", "view_creditpack"),
        ("billing", "view_stripeevent"),
        ("billing", "view_adjustmentrequest"),
        ("billing", "add_adjustmentrequest"),
        ("accounts", "view_user"),
    ],
    FINANCE_APPROVERS: [
        ("billing", "view_adjustmentrequest"),
        ("billing", "approve_adjustmentrequest"),
    ],
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); make sure the ones
    # we name exist now, on a fresh database too.
    for label in ("accounts", "billing"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps,
                           using=schema_editor.connection.alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = [
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in codenames
        ]
        group.permissions.set(permissions)


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(GROUPS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_topups_adjustments"),
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
