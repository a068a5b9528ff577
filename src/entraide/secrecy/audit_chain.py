"""The hash chain that makes the audit trail tamper-evident, and its verification.

Every `AuditRecord` carries the hash of the record before it. Records are chained day by day
(UTC): each day's head, an `AuditDay`, holds the day's record count and last hash, and the first
record of a day links to the last hash of the day before, that day's anchor. Why it is built so,
and what it does not protect against: docs/audit.md.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import AuditDay, AuditRecord

GENESIS = "0" * 64
# The business fields of a record in the order they are hashed: changing it breaks every chain.
HASHED_FIELDS = ("at", "user_id", "username", "role", "action", "object_type", "object_id",
                 "household_id", "channel", "ip", "reason", "detail")


def record_hash(values: Sequence[Any], prev_hash: str) -> str:
    """The hash of a record from its HASHED_FIELDS values, in that order, and its prev_hash."""
    (at, user_id, username, role, action, object_type, object_id, household_id, channel, ip,
     reason, detail) = values
    canonical = [
        at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        _integer(user_id), str(username), str(role), str(action), str(object_type),
        _integer(object_id), _integer(household_id), str(channel), _address(ip),
        str(reason), str(detail), prev_hash,
    ]
    text = json.dumps(canonical, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _integer(value: Any) -> int | None:
    return None if value is None else int(value)


def _address(ip: Any) -> str | None:
    """One spelling per address: PostgreSQL and Django may write one IPv6 address differently."""
    if not ip:
        return None  # Django stores an empty address as NULL
    try:
        return ipaddress.ip_address(str(ip)).packed.hex()
    except ValueError:
        return str(ip)  # SQLite keeps whatever it was given


def append(**fields: Any) -> AuditRecord:
    """Write one audit record at the end of the chain and move the chain head past it.

    The head's row lock is held until the caller's transaction ends, so audit writes are
    serialised and ids follow the chain; call it last in a transaction that locks other rows.
    """
    # No savepoint: if the audit record cannot be written, the caller's transaction must fail.
    with transaction.atomic(savepoint=False):
        head, at = _lock_head()
        record = AuditRecord(at=at, prev_hash=head.last_hash, **fields)
        record.hash = record_hash([getattr(record, name) for name in HASHED_FIELDS],
                                  record.prev_hash)
        record.save(force_insert=True)
        AuditDay.objects.filter(pk=head.pk).update(count=head.count + 1, last_hash=record.hash)
    return record


def _lock_head() -> tuple[AuditDay, dt.datetime]:
    """Lock the current day's head, opening the day if needed, and give the new record's time."""
    while True:
        head = AuditDay.objects.select_for_update().order_by("-day").first()
        if (head is not None and head.closed
                and AuditDay.objects.filter(day__gt=head.day).exists()):
            continue  # while we waited for its lock, another writer opened the next day
        # Read the clock only once the head is ours, so no record lands in a day already closed.
        at = timezone.now()
        day = at.astimezone(dt.UTC).date()
        if head is not None and head.day >= day:
            # A server whose clock is behind the one that opened the head writes into the head's
            # day, at its first instant, so that days never interleave in the chain.
            return head, max(at, dt.datetime.combine(head.day, dt.time.min, tzinfo=dt.UTC))
        try:
            with transaction.atomic():
                if head is not None:
                    AuditDay.objects.filter(pk=head.pk).update(closed=True)
                anchor = head.last_hash if head is not None else GENESIS
                return AuditDay.objects.create(day=day, last_hash=anchor), at
        except IntegrityError:
            continue  # the very first record: another writer created the first head meanwhile


def latest_anchors(days: int) -> list[AuditDay]:
    """The heads of the newest `days` days that have records, oldest first."""
    return list(AuditDay.objects.order_by("-day")[:days])[::-1]


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` found: whether the chain holds and, if not, where it first breaks and why."""

    ok: bool
    records_checked: int
    first_broken_id: int | None = None
    day: dt.date | None = None
    reason: str = ""


def verify(chunk_size: int = 5000) -> VerifyResult:
    """Walk every record in id order, day by day, and report the first break in the chain.

    Memory stays bounded (records are streamed; one head per day is kept). It is safe while
    agents work: the heads are read before the records, so records written meanwhile only
    show up as more records than a head counted, which a fresh read of that head confirms.
    """
    walk = _Walk({head.day: head for head in AuditDay.objects.all()})
    rows = (AuditRecord.objects.order_by("id")
            .values_list("id", "prev_hash", "hash", *HASHED_FIELDS)
            .iterator(chunk_size=chunk_size))
    for record_id, prev_hash, stored_hash, *values in rows:
        broken = walk.step(record_id, prev_hash, stored_hash, values)
        if broken is not None:
            return broken
    return walk.finish()


class _Walk:
    """The state of `verify` between one record and the next."""

    def __init__(self, heads: dict[dt.date, AuditDay]) -> None:
        self.heads = heads
        self.days = sorted(heads)
        self.newest = self.days[-1] if self.days else None
        self.checked = 0
        self.day: dt.date | None = None
        self.in_day = 0
        self.counted = 0  # how many records the current day's head is known to count
        self.last_id: int | None = None
        self.last_hash = GENESIS

    def step(self, record_id: int, prev_hash: str, stored_hash: str,
             values: Sequence[Any]) -> VerifyResult | None:
        day = values[0].astimezone(dt.UTC).date()
        if day != self.day:
            broken = self._begin(record_id, day)
            if broken is not None:
                return broken
        if prev_hash != self.last_hash:
            if self.last_id is None:
                return self._broken(record_id, f"record #{record_id} does not start the chain: "
                                               "the records before it were deleted")
            return self._broken(record_id, f"record #{record_id} does not link to "
                                           f"#{self.last_id}: a record between them was "
                                           f"deleted, or #{self.last_id} was altered")
        if record_hash(values, prev_hash) != stored_hash:
            return self._broken(record_id, f"record #{record_id} no longer matches its hash: "
                                           "it was altered")
        self.in_day += 1
        if self.in_day > self.counted:
            self.counted = self._count_now(day)
            if self.in_day > self.counted:
                return self._broken(record_id, f"record #{record_id} is not counted by the head "
                                               f"of {day}: it was written outside the application")
        head = self.heads.get(day)
        if head is not None and self.in_day == head.count and stored_hash != head.last_hash:
            return self._broken(record_id, f"record #{record_id} is the last that the head of "
                                           f"{day} counts, but its hash is not the head's")
        self.checked += 1
        self.last_id, self.last_hash = record_id, stored_hash
        return None

    def finish(self) -> VerifyResult:
        broken = self._end_of_day() or self._emptied_days(before=None)
        return broken or VerifyResult(ok=True, records_checked=self.checked)

    def _begin(self, record_id: int, day: dt.date) -> VerifyResult | None:
        """Close the checks of the day before and start `day`, whose first record is this one."""
        if self.day is not None and day < self.day:
            return self._broken(record_id, f"record #{record_id} is dated {day}, before "
                                           f"#{self.last_id} that comes before it ({self.day})")
        broken = self._end_of_day() or self._emptied_days(before=day)
        if broken is not None:
            return broken
        # A day newer than every head read at the start may have begun since.
        if day not in self.heads and self.newest is not None and day < self.newest:
            return self._broken(record_id, f"record #{record_id} is dated {day}, a day without "
                                           "a chain head")
        self.day, self.in_day = day, 0
        self.counted = self.heads[day].count if day in self.heads else 0
        return None

    def _end_of_day(self) -> VerifyResult | None:
        head = self.heads.get(self.day) if self.day is not None else None
        if head is None or self.in_day >= head.count:
            return None
        return self._broken(self.last_id, f"day {self.day} ends at record #{self.last_id} but "
                                          f"its head counts {head.count} records, not "
                                          f"{self.in_day}: its last records were deleted",
                            day=self.day)

    def _emptied_days(self, before: dt.date | None) -> VerifyResult | None:
        """A head, between the current day and `before`, whose records were all deleted."""
        start = 0 if self.day is None else bisect.bisect_right(self.days, self.day)
        end = len(self.days) if before is None else bisect.bisect_left(self.days, before)
        for day in self.days[start:end]:
            if self.heads[day].count:
                after = f" after #{self.last_id}" if self.last_id is not None else ""
                return self._broken(self.last_id, f"day {day} has no records left{after} but "
                                                  f"its head counts {self.heads[day].count}",
                                    day=day)
        return None

    def _count_now(self, day: dt.date) -> int:
        """The head's count, read again if the day may have grown since the heads were read."""
        if self.newest is not None and day < self.newest:
            return self.heads[day].count
        return AuditDay.objects.filter(day=day).values_list("count", flat=True).first() or 0

    def _broken(self, record_id: int | None, reason: str,
                day: dt.date | None = None) -> VerifyResult:
        return VerifyResult(ok=False, records_checked=self.checked, first_broken_id=record_id,
                            day=day or self.day, reason=reason)
