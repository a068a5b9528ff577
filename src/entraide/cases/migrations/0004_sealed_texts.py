"""Goal and action titles, reception reasons, referred services and referral reasons sealed
with the household's key: each clear column is copied into its sealed twin, then dropped."""

from django.db import migrations, models

from entraide.secrecy.sealed import seal_existing

SEALED = (  # model, field, its former length, lookup to the household
    ("goal", "title", 300, "case_file__household_id"),
    ("action", "title", 300, "goal__case_file__household_id"),
    ("receptionentry", "reason", 300, "household_id"),
    ("referral", "service", 200, "case_file__household_id"),
    ("referral", "reason", 1000, "case_file__household_id"),
)


class Migration(migrations.Migration):

    dependencies = [
        ("cases", "0003_alter_timelineevent_kind"),
        ("secrecy", "0002_audit_chain"),
    ]

    operations = [
        *(migrations.AddField(model_name=model, name=f"{field}_sealed",
                              field=models.TextField(blank=True))
          for model, field, _, _ in SEALED),
        # A default, so that unapplying this migration can bring the clear columns back.
        *(migrations.AlterField(model_name=model, name=field,
                                field=models.CharField(max_length=length, default=""))
          for model, field, length, _ in SEALED),
        *(seal_existing("cases", model, field, household)
          for model, field, _, household in SEALED),
        *(migrations.RemoveField(model_name=model, name=field) for model, field, _, _ in SEALED),
    ]
