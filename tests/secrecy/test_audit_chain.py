"""The audit trail is tamper-evident: one hash chain per day, anchored, and insert-only."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from entraide.org.models import Role
from entraide.secrecy.audit_chain import GENESIS, HASHED_FIELDS, record_hash, verify
from entraide.secrecy.models import AuditAction, AuditDay, AuditRecord
from entraide.secrecy.policy import Actor, record

from ..factories import UserFactory

DAY_ONE = dt.datetime(2031, 3, 1, 9, 0, tzinfo=dt.UTC)
# The third day comes two days after the second: a day without records leaves no head.
DAYS = [DAY_ONE, DAY_ONE + dt.timedelta(days=1), DAY_ONE + dt.timedelta(days=3)]


@pytest.fixture
def actor(db: None) -> Actor:
    return Actor(user=UserFactory(username="worker", role=Role.SOCIAL_WORKER), ip="10.1.2.3",
                 reason="Signalement école")


def _record_at(actor: Actor, when: dt.datetime, detail: str = "") -> AuditRecord:
    with mock.patch("django.utils.timezone.now", return_value=when):
        return record(actor, AuditAction.READ, "case_file", 12, 34, detail=detail)


@pytest.fixture
def chain(actor: Actor) -> list[list[AuditRecord]]:
    """Three records on each of three days."""
    return [[_record_at(actor, start + dt.timedelta(hours=i, microseconds=i), f"{start:%d}-{i}")
             for i in range(3)] for start in DAYS]


def _as_malicious_administrator() -> None:
    """Drop the insert-only trigger as the table's owner could; the test's rollback restores it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER secrecy_auditrecord_insert_only ON secrecy_auditrecord")
        else:
            for verb in ("update", "delete"):
                cursor.execute(f"DROP TRIGGER secrecy_auditrecord_no_{verb}")


def _hash_of(row: AuditRecord) -> str:
    return record_hash([getattr(row, name) for name in HASHED_FIELDS], row.prev_hash)


@pytest.mark.django_db
def test_records_over_several_days_form_chains_linked_by_daily_anchors_and_verify(chain):
    result = verify(chunk_size=2)  # chunk boundaries fall inside days
    assert (result.ok, result.records_checked, result.first_broken_id) == (True, 9, None)
    assert chain[0][0].prev_hash == GENESIS
    for day in chain:
        assert [row.prev_hash for row in day[1:]] == [row.hash for row in day[:-1]]
    assert chain[1][0].prev_hash == chain[0][-1].hash
    assert chain[2][0].prev_hash == chain[1][-1].hash
    heads = list(AuditDay.objects.order_by("day").values_list("day", "count", "last_hash",
                                                              "closed"))
    assert heads == [(start.date(), 3, day[-1].hash, start != DAYS[-1])
                     for start, day in zip(DAYS, chain, strict=True)]


@pytest.mark.django_db
def test_stored_records_hash_to_their_stored_hash(chain):
    for row in AuditRecord.objects.order_by("id"):
        assert _hash_of(row) == row.hash


@pytest.mark.django_db
@pytest.mark.parametrize("field, value", [
    ("at", DAYS[1] + dt.timedelta(hours=1, microseconds=2)),
    ("user", "other"),
    ("username", "lead"),
    ("role", Role.TEAM_LEAD),
    ("action", AuditAction.UPDATE),
    ("object_type", "note"),
    ("object_id", 13),
    ("household_id", None),
    ("channel", "api"),
    ("ip", "10.1.2.4"),
    ("reason", ""),
    ("detail", "01-1"),
])
def test_altering_any_field_of_a_middle_record_is_detected_and_names_it(chain, field, value):
    altered = chain[1][1]
    if value == "other":
        value = UserFactory()
    _as_malicious_administrator()
    AuditRecord.objects.filter(pk=altered.pk).update(**{field: value})
    result = verify()
    assert (result.ok, result.first_broken_id, result.records_checked) == (False, altered.pk, 4)
    assert "altered" in result.reason


@pytest.mark.django_db
def test_an_altered_record_whose_hash_was_recomputed_breaks_the_link_of_the_next(chain):
    altered, following = chain[1][1], chain[1][2]
    _as_malicious_administrator()
    altered.detail = "nothing to see"
    altered.hash = _hash_of(altered)
    altered.save()
    result = verify()
    assert (result.ok, result.first_broken_id) == (False, following.pk)
    assert f"#{altered.pk}" in result.reason


@pytest.mark.django_db
def test_deleting_a_middle_record_names_the_record_after_it(chain):
    _as_malicious_administrator()
    AuditRecord.objects.filter(pk=chain[1][1].pk).delete()
    result = verify()
    assert (result.ok, result.first_broken_id, result.records_checked) == (False, chain[1][2].pk, 4)


@pytest.mark.django_db
def test_deleting_the_first_record_ever_is_detected(chain):
    _as_malicious_administrator()
    AuditRecord.objects.filter(pk=chain[0][0].pk).delete()
    result = verify()
    assert (result.ok, result.first_broken_id) == (False, chain[0][1].pk)


@pytest.mark.django_db
@pytest.mark.parametrize("day", [0, 2], ids=["closed day", "current day"])
def test_deleting_the_last_record_of_a_day_names_the_day_and_the_last_survivor(chain, day):
    _as_malicious_administrator()
    AuditRecord.objects.filter(pk=chain[day][-1].pk).delete()
    result = verify()
    assert (result.ok, result.first_broken_id, result.day) == (False, chain[day][1].pk,
                                                               DAYS[day].date())
    assert str(DAYS[day].date()) in result.reason
    assert "deleted" in result.reason


@pytest.mark.django_db
def test_deleting_every_record_of_a_day_is_detected(chain):
    _as_malicious_administrator()
    AuditRecord.objects.filter(pk__in=[row.pk for row in chain[1]]).delete()
    result = verify()
    assert (result.ok, result.day) == (False, DAYS[1].date())
    assert f"#{chain[0][-1].pk}" in result.reason


@pytest.mark.django_db
def test_a_forged_record_that_links_correctly_but_is_not_counted_is_named(chain, actor):
    last = chain[2][-1]
    forged = AuditRecord(at=last.at + dt.timedelta(minutes=1), user=actor.user,
                         username="worker", role=Role.SOCIAL_WORKER, action=AuditAction.READ,
                         object_type="case_file", object_id=99, household_id=99,
                         channel="web", ip="10.1.2.3", prev_hash=last.hash)
    forged.hash = _hash_of(forged)
    forged.save()
    result = verify()
    assert (result.ok, result.first_broken_id) == (False, forged.pk)
    assert "outside the application" in result.reason


@pytest.mark.django_db
def test_a_forged_record_dated_in_a_closed_day_is_named(chain, actor):
    forged = AuditRecord.objects.create(
        at=DAYS[0], user=actor.user, username="worker", role=Role.SOCIAL_WORKER,
        action=AuditAction.READ, object_type="case_file", channel="web",
        prev_hash=chain[2][-1].hash, hash="0" * 64)
    result = verify()
    assert (result.ok, result.first_broken_id) == (False, forged.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("operation", [
    lambda row: AuditRecord.objects.filter(pk=row.pk).update(detail="rewritten"),
    lambda row: row.save(),
    lambda row: row.delete(),
    lambda row: AuditRecord.objects.all().delete(),
], ids=["queryset update", "save", "delete", "queryset delete"])
def test_the_application_can_neither_update_nor_delete_an_audit_record(chain, operation):
    row = chain[1][1]
    with pytest.raises(DatabaseError, match="insert-only"), transaction.atomic():
        operation(row)
    assert AuditRecord.objects.get(pk=row.pk).detail == row.detail
    assert AuditRecord.objects.count() == 9


@pytest.mark.django_db
def test_a_record_rolled_back_with_its_callers_transaction_leaves_the_chain_whole(chain, actor):
    with pytest.raises(RuntimeError), transaction.atomic():
        _record_at(actor, DAYS[2] + dt.timedelta(hours=5))
        raise RuntimeError("the caller fails after auditing")
    assert AuditDay.objects.get(day=DAYS[2].date()).count == 3
    written = _record_at(actor, DAYS[2] + dt.timedelta(hours=6))
    assert written.prev_hash == chain[2][-1].hash
    assert verify().ok


@pytest.mark.django_db
def test_a_record_from_a_clock_behind_the_current_day_joins_that_day(chain, actor):
    late = _record_at(actor, DAYS[1] + dt.timedelta(hours=20))
    assert late.at == dt.datetime.combine(DAYS[2].date(), dt.time.min, tzinfo=dt.UTC)
    assert late.prev_hash == chain[2][-1].hash
    assert verify().ok


@pytest.mark.django_db
@pytest.mark.parametrize("ip", ["2001:0DB8:0000::0001", "::ffff:10.1.2.3", "", None])
def test_every_spelling_of_an_address_verifies_on_this_database(actor, ip):
    for hour in range(2):
        _record_at(Actor(user=actor.user, ip=ip), DAY_ONE + dt.timedelta(hours=hour))
    assert verify().ok


@pytest.mark.django_db
def test_verify_command_reports_an_intact_trail(chain):
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert out.getvalue().strip() == "The audit trail is intact: 9 records checked."


@pytest.mark.django_db
def test_verify_command_exits_1_and_names_the_first_broken_record(chain):
    altered = chain[0][2]
    _as_malicious_administrator()
    AuditRecord.objects.filter(pk=altered.pk).update(reason="")
    with pytest.raises(CommandError) as failure:
        call_command("audit", "verify")
    assert failure.value.returncode == 1
    assert f"record #{altered.pk}" in str(failure.value)


@pytest.mark.django_db
def test_anchor_command_prints_the_newest_days_heads(chain):
    out = StringIO()
    call_command("audit", "anchor", stdout=out)
    assert out.getvalue().splitlines() == [
        f"{DAYS[1]:%Y-%m-%d} 3 {chain[1][-1].hash} closed",
        f"{DAYS[2]:%Y-%m-%d} 3 {chain[2][-1].hash} open",
    ]
