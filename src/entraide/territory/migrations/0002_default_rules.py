"""The crisis rules and visit frequencies an organisation starts with."""

from decimal import Decimal

from django.db import migrations

# Level 4 is kept for what needs someone now (a serious alert open); a domain in crisis in
# the assessment or a strong screening signal is a difficulty to follow closely.
RULES = [  # (signal, threshold, level)
    ("open_alert", 3, 4), ("open_alert", 1, 3),
    ("screening_score", 8, 3), ("screening_score", 1, 2),
    ("assessment", 4, 3), ("assessment", 3, 2),
    ("overdue_actions", 3, 3), ("overdue_actions", 1, 2),
]
VISITS_PER_MONTH = {1: Decimal("0"), 2: Decimal("0.5"), 3: Decimal("1"), 4: Decimal("4")}


def create(apps, schema_editor):
    CrisisRule = apps.get_model("territory", "CrisisRule")
    VisitFrequency = apps.get_model("territory", "VisitFrequency")
    if not CrisisRule.objects.exists():
        CrisisRule.objects.bulk_create(CrisisRule(signal=s, threshold=t, level=lv, reason="")
                                       for s, t, lv in RULES)
    for level, visits in VISITS_PER_MONTH.items():
        VisitFrequency.objects.get_or_create(level=level, defaults={"visits_per_month": visits})


class Migration(migrations.Migration):
    dependencies = [("territory", "0001_welfare_map")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
