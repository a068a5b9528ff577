"""Emergency-access reasons sealed with the household's key; notices point to the access
instead of copying its reason, and the reasons already copied are taken out of them."""

import django.db.models.deletion
from django.db import migrations, models

from entraide.secrecy.sealed import seal_existing


def _link_notices(apps, schema_editor):
    """Each notice of an emergency access was written in the same instant as the access."""
    access_model = apps.get_model("secrecy", "EmergencyAccess")
    notice_model = apps.get_model("secrecy", "Notice")
    for access in access_model.objects.all().iterator():
        for notice in notice_model.objects.filter(created_at=access.granted_at,
                                                  subject__contains=str(access.case_file_id)):
            notice.emergency_id = access.pk
            if access.reason:
                notice.body = notice.body.replace(access.reason, "").rstrip()
            notice.save(update_fields=["emergency", "body"])


class Migration(migrations.Migration):

    dependencies = [
        ("secrecy", "0002_audit_chain"),
        ("cases", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="emergencyaccess",
            name="reason_sealed",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="notice",
            name="emergency",
            field=models.ForeignKey(blank=True, null=True,
                                    on_delete=django.db.models.deletion.CASCADE,
                                    related_name="+", to="secrecy.emergencyaccess"),
        ),
        migrations.AlterField(  # a default, so that unapplying can bring the column back
            model_name="emergencyaccess",
            name="reason",
            field=models.CharField(max_length=500, default=""),
        ),
        seal_existing("secrecy", "emergencyaccess", "reason", "case_file__household_id"),
        migrations.RunPython(_link_notices, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="emergencyaccess",
            name="reason",
        ),
    ]
