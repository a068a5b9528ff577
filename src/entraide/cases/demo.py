"""A synthetic département for demos and benchmarks: agents, households and years of case history.

Rows are built in Python with their primary keys already chosen and written with one
`executemany` (COPY on PostgreSQL) per table and chunk: the ORM's per-object path would take
minutes for what this does in seconds, and the benchmark needs a million notes.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from entraide import french
from entraide.org.models import Organisation, Role, Team, Territory, User
from entraide.people import demo_names
from entraide.people.models import (
    Consent,
    ConsentPurpose,
    Household,
    Membership,
    NameKey,
    Person,
    Relationship,
    Sex,
)
from entraide.people.services import name_keys
from entraide.secrecy import crypto
from entraide.secrecy.crypto import LEVEL_COMMENT, NOTE_BODY
from entraide.secrecy.models import HouseholdKey
from entraide.secrecy.sealed import sealed_fields

from .models import (
    Action,
    ActionStatus,
    Assessment,
    CaseFile,
    CaseStatus,
    Domain,
    DomainLevel,
    EventKind,
    Goal,
    GoalStatus,
    Note,
    NoteKind,
    NoteTerm,
    ReceptionEntry,
    Referral,
    ReferralStatus,
    TimelineEvent,
)

DEMO_PASSWORD = "entraide-demo"  # noqa: S105 -- published so that anyone can try the demo
ORGANISATION_NAME = "Département de démonstration"
OPEN_SHARE = 0.85
FEATURED_CASELOAD = (40, 55)


@dataclass(frozen=True)
class DemoLogin:
    """A fixed account of the demo, one per role, so that anyone can try each screen."""

    username: str
    role: str
    first_name: str
    last_name: str
    territory: str | None = None
    team: int | None = None


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("reception", Role.RECEPTION, "Sandrine", "Morel", territory="A"),
    DemoLogin("worker", Role.SOCIAL_WORKER, "Camille", "Durand", territory="A", team=0),
    DemoLogin("worker.b", Role.SOCIAL_WORKER, "Julien", "Faure", territory="B", team=0),
    DemoLogin("lead", Role.TEAM_LEAD, "Isabelle", "Lacoste", territory="A", team=0),
    DemoLogin("manager", Role.MANAGER, "Philippe", "Marchand"),
    DemoLogin("operator", Role.OPERATOR, "Karim", "Haddad"),
    DemoLogin("dpo", Role.DPO, "Hélène", "Roussel"),
    DemoLogin("admin", Role.ADMINISTRATOR, "Laurent", "Picard"),
)
FEATURED_WORKERS = ("worker", "worker.b")


@dataclass
class Department:
    """Who works where in the demo organisation, as the household generator needs it."""

    organisation_id: int
    territory_ids: list[int]
    teams: dict[int, list[int]]
    workers: dict[int, list[int]]
    receptionists: dict[int, list[int]]
    featured: dict[int, int] = field(default_factory=dict)


def is_seeded() -> bool:
    """Whether the demo accounts already exist in the database."""
    return User.objects.filter(username__in=[login.username for login in DEMO_LOGINS]).exists()


# --- names ----------------------------------------------------------------------------------

def _cohorts(names: Sequence[str], *starts: str) -> list[Sequence[str]]:
    cuts = [0, *(names.index(name) for name in starts), len(names)]
    return [names[a:b] for a, b in pairwise(cuts)]


# Older generations, born 1960-1989, born 1990 and later, names of immigrant families.
_FIRST_F = _cohorts(demo_names.FIRST_NAMES_F, "Sylvie", "Julie", "Fatima")
_FIRST_M = _cohorts(demo_names.FIRST_NAMES_M, "Philippe", "Rémi", "Mohamed")


def _first_name(rng: random.Random, sex: str, birth_year: int) -> str:
    if sex == Sex.OTHER:
        sex = rng.choice((Sex.FEMALE, Sex.MALE))
    older, middle, young, origin = _FIRST_F if sex == Sex.FEMALE else _FIRST_M
    if rng.random() < 0.2:
        return rng.choice(origin)
    return rng.choice(older if birth_year < 1960 else middle if birth_year < 1990 else young)


def _login_name(first_name: str, last_name: str) -> str:
    return "-".join(french.words(first_name)) + "." + "-".join(french.words(last_name))


# --- organisation ---------------------------------------------------------------------------

@transaction.atomic
def build_organisation(rng: random.Random) -> Department:
    """Create the organisation, 3 territories of 2-3 teams, ~30 agents and the demo logins."""
    password = make_password(DEMO_PASSWORD)  # hashed once: PBKDF2 per user would cost seconds
    organisation = Organisation.objects.create(name=ORGANISATION_NAME)
    territories: dict[str, Territory] = {}
    teams: dict[str, list[Team]] = {}
    for spec in demo_names.TERRITORIES:
        territory = Territory.objects.create(organisation=organisation, code=spec.code,
                                             name=spec.name)
        territories[spec.code] = territory
        communes = sorted(spec.communes, key=lambda c: -c.weight)[:rng.randint(2, 3)]
        teams[spec.code] = [Team.objects.create(territory=territory, name=f"Équipe de {c.name}")
                            for c in communes]

    users: list[User] = []
    taken = {login.username for login in DEMO_LOGINS}

    def agent(role: str, territory: Territory, team: Team | None) -> None:
        sex = rng.choice((Sex.FEMALE, Sex.FEMALE, Sex.FEMALE, Sex.MALE))
        first = _first_name(rng, sex, rng.randint(1965, 1998))
        last = rng.choice(demo_names.LAST_NAMES)
        username = base = _login_name(first, last)
        suffix = 1
        while username in taken:
            suffix += 1
            username = f"{base}{suffix}"
        taken.add(username)
        users.append(User(username=username, first_name=first, last_name=last, role=role,
                          email=f"{username}@departement-demo.example", password=password,
                          team=team, territory=territory))

    for spec in demo_names.TERRITORIES:
        territory = territories[spec.code]
        agent(Role.RECEPTION, territory, None)
        for index, team in enumerate(teams[spec.code]):
            if not (spec.code == "A" and index == 0):  # the demo "lead" leads that one
                agent(Role.TEAM_LEAD, territory, team)
            for _ in range(rng.randint(2, 4)):
                agent(Role.SOCIAL_WORKER, territory, team)
    for login in DEMO_LOGINS:
        home = territories[login.territory] if login.territory else None
        own_team = None
        if login.territory and login.team is not None:
            own_team = teams[login.territory][login.team]
        is_admin = login.role == Role.ADMINISTRATOR
        users.append(User(
            username=login.username, first_name=login.first_name, last_name=login.last_name,
            email=f"{login.username}@departement-demo.example", password=password,
            role=login.role, team=own_team, territory=home, is_staff=is_admin,
            is_superuser=is_admin,
        ))
    User.objects.bulk_create(users)
    return load_department()


def load_department() -> Department:
    """Read back the demo organisation's territories, teams and agents from the database."""
    organisation = Organisation.objects.get(name=ORGANISATION_NAME)
    by_code = {t.code: t.pk for t in organisation.territories.all()}
    territory_ids = [by_code[spec.code] for spec in demo_names.TERRITORIES]
    teams: dict[int, list[int]] = defaultdict(list)
    for team in Team.objects.filter(territory_id__in=territory_ids).order_by("pk"):
        teams[team.territory_id].append(team.pk)
    workers: dict[int, list[int]] = defaultdict(list)
    receptionists: dict[int, list[int]] = defaultdict(list)
    agents = User.objects.filter(territory_id__in=territory_ids, is_active=True).order_by("pk")
    for user in agents:
        if user.role == Role.SOCIAL_WORKER and user.team_id:
            workers[user.team_id].append(user.pk)
        elif user.role == Role.RECEPTION:
            receptionists[user.territory_id].append(user.pk)  # type: ignore[index]
    featured = dict(User.objects.filter(username__in=FEATURED_WORKERS, team__isnull=False)
                    .values_list("team_id", "pk"))
    return Department(organisation.pk, territory_ids, dict(teams), dict(workers),
                      dict(receptionists), featured)


# --- households and their case history ----------------------------------------------------

_ID_MODELS: tuple[type[models.Model], ...] = (
    Household, HouseholdKey, Person, CaseFile, ReceptionEntry, Note, Assessment, Goal, Action,
    Referral,
)
_COLUMNS: dict[type[models.Model], tuple[str, ...]] = {
    Household: ("id", "territory", "address", "postcode", "commune", "latitude", "longitude",
                "created_at", "version"),
    HouseholdKey: ("id", "household", "wrapped", "master_key_id", "created_at"),
    Person: ("id", "first_name", "last_name", "birth_date", "sex", "phone", "email", "household",
             "created_at", "version", "identity_number_sealed"),
    Membership: ("household", "person", "relationship", "since"),
    NameKey: ("person", "key"),
    Consent: ("person", "purpose", "given", "recorded_at", "recorded_by"),
    CaseFile: ("id", "household", "team", "referent", "status", "opened_at", "closed_at",
               "updated_at", "version"),
    ReceptionEntry: ("id", "household", "person", "case_file", "reason_sealed", "received_by",
                     "at"),
    Note: ("id", "case_file", "kind", "body_sealed", "author", "created_at", "first",
           "version_no", "is_current", "sensitive"),
    NoteTerm: ("term", "note", "case_file", "restricted"),
    Assessment: ("id", "case_file", "author", "created_at"),
    DomainLevel: ("assessment", "domain", "level", "comment_sealed"),
    Goal: ("id", "case_file", "domain", "title_sealed", "status", "created_at", "version"),
    Action: ("id", "goal", "title_sealed", "owner", "due_date", "status", "created_at",
             "version"),
    Referral: ("id", "case_file", "service_sealed", "reason_sealed", "status", "created_by",
               "created_at", "version"),
    TimelineEvent: ("case_file", "at", "kind", "object_id", "summary"),
}
_NOTE_KINDS = (NoteKind.INTERVIEW, NoteKind.PHONE_CALL, NoteKind.HOME_VISIT, NoteKind.EMAIL,
               NoteKind.LETTER)
_NOTE_KIND_WEIGHTS = (35, 30, 12, 13, 10)
_LEVELS = (1, 2, 3, 4)
_LEVEL_WEIGHTS = (20, 35, 30, 15)
_DAY = dt.timedelta(days=1)


def _table_and_columns(model: type[models.Model]) -> tuple[str, str]:
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in _COLUMNS[model]]
    columns = ", ".join(quote(f.column) for f in fields if isinstance(f, models.Field))
    return quote(model._meta.db_table), columns


def _insert_rows(cursor: Any, model: type[models.Model], rows: list[tuple[Any, ...]]) -> None:
    """Write rows in the column order of `_COLUMNS`; with COPY on PostgreSQL, 4x faster."""
    table, columns = _table_and_columns(model)
    if connection.vendor == "postgresql":
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join(["%s"] * len(_COLUMNS[model]))
    # Identifiers come from model metadata, values go through parameters.
    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608


class _Chunk:
    """The rows of a batch of households, with primary keys allocated as they are built."""

    def __init__(self, rng: random.Random, department: Department, now: dt.datetime,
                 next_ids: dict[type[models.Model], int], notes_per_household: tuple[int, int],
                 featured_left: dict[int, int], featured_odds: dict[int, float]):
        self.rng = rng
        self.department = department
        self.now = now
        self.today = now.date()
        self.next_ids = next_ids
        self.notes_per_household = notes_per_household
        self.featured_left = featured_left
        self.featured_odds = featured_odds
        self.rows: dict[type[models.Model], list[tuple[Any, ...]]] = defaultdict(list)
        # [created_at, order, case file, kind, sentences, author, first version's order, version_no]
        self.notes: list[list[Any]] = []
        self.terms_cache: dict[str, set[str]] = {}
        # case file -> (household, data key id, data key), to seal its notes and comments
        self.keys: dict[int, tuple[int, int, bytes]] = {}
        self.at = _datetime_adapter()
        self.day = connection.ops.adapt_datefield_value

    def seal(self, case_file_id: int, text: str, model: type[models.Model], name: str) -> str:
        """A free text of the file sealed as the model's own attribute seals it."""
        household_id, key_pk, data_key = self.keys[case_file_id]
        return crypto.seal_with(data_key, key_pk, household_id, text,
                                sealed_fields(model)[name].purpose)

    def new_id(self, model: type[models.Model]) -> int:
        pk = self.next_ids[model]
        self.next_ids[model] = pk + 1
        return pk

    def moment(self, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        """A random time between two instants, during office hours when the span allows."""
        span = (end - start).total_seconds()
        when = start + dt.timedelta(seconds=self.rng.uniform(0, max(span, 0)))
        office = when.replace(hour=self.rng.randint(7, 16), minute=self.rng.randrange(60))
        return office if start <= office <= end else when

    def event(self, case_file_id: int, at: dt.datetime, kind: str, object_id: int,
              summary: str = "") -> None:
        self.rows[TimelineEvent].append((case_file_id, self.at(at), kind, object_id, summary))

    def household(self) -> None:
        """Build one household, its members and its case file with several years of history."""
        rng, department = self.rng, self.department
        index = rng.randrange(len(department.territory_ids))
        territory_id = department.territory_ids[index]
        commune = demo_names.pick_commune(rng, demo_names.TERRITORIES[index])
        latitude, longitude = demo_names.random_point(rng, commune)
        address = (f"{rng.randint(1, 140)} {rng.choice(demo_names.STREET_TYPES)} "
                   f"{rng.choice(demo_names.STREET_NAMES)}")
        opened = self.now - dt.timedelta(days=rng.uniform(365, 6 * 365))
        opened = opened.replace(hour=rng.randint(7, 16), minute=rng.randrange(60))
        is_open = rng.random() < OPEN_SHARE
        closed = None if is_open else self.moment(opened + 120 * _DAY, self.now - _DAY)
        end = closed or self.now
        household_id = self.new_id(Household)
        self.rows[Household].append((household_id, territory_id, address, commune.postcode,
                                     commune.name, latitude, longitude, self.at(opened), 1))
        key_pk = self.new_id(HouseholdKey)
        wrapped, master_key_id, data_key = crypto.new_wrapped_key(household_id)
        self.rows[HouseholdKey].append((key_pk, household_id, wrapped, master_key_id,
                                        self.at(opened)))

        team_id = rng.choice(department.teams[territory_id])
        referent = self.referent(team_id, is_open)
        members = self.members(household_id, opened, referent)
        case_file_id = self.new_id(CaseFile)
        self.keys[case_file_id] = (household_id, key_pk, data_key)
        self.event(case_file_id, opened, EventKind.STATUS, case_file_id, "opened")
        if closed:
            self.event(case_file_id, closed, EventKind.STATUS, case_file_id, CaseStatus.CLOSED)
        team_workers = department.workers[team_id]
        receptionists = department.receptionists[territory_id]
        last = self.receptions(household_id, case_file_id, members, receptionists, opened, end)
        last = max(last, self.write_notes(case_file_id, referent, team_workers, opened, end))
        last = max(last, self.plan(case_file_id, referent, is_open, opened, end))
        last = max(last, self.referrals(case_file_id, referent, opened, end))
        self.rows[CaseFile].append((
            case_file_id, household_id, team_id, referent,
            CaseStatus.OPEN if is_open else CaseStatus.CLOSED, self.at(opened),
            self.at(closed), self.at(max(last, closed or last)), 1,
        ))

    def referent(self, team_id: int, is_open: bool) -> int:
        """A social worker of the team; the demo workers get a caseload one can browse."""
        workers = self.department.workers[team_id]
        featured = self.department.featured.get(team_id)
        if featured is None:
            return self.rng.choice(workers)
        if is_open and self.featured_left.get(featured, 0) > 0 \
                and self.rng.random() < self.featured_odds[featured]:
            self.featured_left[featured] -= 1
            return featured
        if is_open:
            return self.rng.choice([w for w in workers if w != featured] or workers)
        return self.rng.choice(workers)

    def members(self, household_id: int, opened: dt.datetime,
                referent: int) -> list[tuple[int, int]]:
        """Create the household's members; return (person id, age) pairs, head first."""
        rng = self.rng
        year = self.today.year
        family_name = rng.choice(demo_names.LAST_NAMES)
        shape = rng.random()
        people: list[tuple[str, str, int, str]] = []  # relationship, sex, age, last name

        def adult(relationship: str, sex: str, age: int, last_name: str = family_name) -> None:
            people.append((relationship, sex, age, last_name))

        def children(parent_age: int) -> None:
            for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4))):
                people.append((Relationship.CHILD, rng.choice((Sex.FEMALE, Sex.MALE)),
                               rng.randint(0, max(0, min(24, parent_age - 18))), family_name))

        sex = rng.choice((Sex.FEMALE, Sex.MALE)) if rng.random() > 0.01 else Sex.OTHER
        if shape < 0.15:
            adult(Relationship.HEAD, sex, rng.randint(68, 95))
        elif shape < 0.35:
            adult(Relationship.HEAD, sex, rng.randint(19, 64))
        elif shape < 0.75:
            age = rng.randint(24, 80) if shape < 0.47 else rng.randint(24, 55)
            adult(Relationship.HEAD, Sex.MALE if rng.random() < 0.6 else Sex.FEMALE, age)
            spouse_sex = Sex.FEMALE if people[0][1] == Sex.MALE else Sex.MALE
            spouse_name = family_name if rng.random() < 0.6 else rng.choice(demo_names.LAST_NAMES)
            adult(Relationship.SPOUSE, spouse_sex, max(19, age + rng.randint(-6, 6)), spouse_name)
            if shape >= 0.47:
                children(min(age, people[1][2]))
        elif shape < 0.95:
            age = rng.randint(20, 55)
            adult(Relationship.HEAD, Sex.FEMALE if rng.random() < 0.8 else Sex.MALE, age)
            children(age)
        else:
            age = rng.randint(35, 62)
            adult(Relationship.HEAD, sex, age)
            parent_name = family_name if rng.random() < 0.5 else rng.choice(demo_names.LAST_NAMES)
            adult(Relationship.PARENT, rng.choice((Sex.FEMALE, Sex.MALE)),
                  min(99, age + rng.randint(22, 35)), parent_name)
            if rng.random() < 0.3:
                adult(Relationship.RELATIVE, rng.choice((Sex.FEMALE, Sex.MALE)),
                      rng.randint(18, 70))

        moved_in = (opened - dt.timedelta(days=rng.uniform(0, 12 * 365))).date()
        created = self.at(opened)
        found: list[tuple[int, int]] = []
        for relationship, person_sex, age, last_name in people:
            birth = dt.date(year - age, 1, 1) + dt.timedelta(days=rng.randrange(365))
            if birth > self.today:
                birth = self.today - dt.timedelta(days=rng.randrange(1, 300))
            first_name = _first_name(rng, person_sex, birth.year)
            is_adult = age >= 16
            phone = (f"0{rng.choice('67')} {rng.randrange(100):02d} {rng.randrange(100):02d} "
                     f"{rng.randrange(100):02d} {rng.randrange(100):02d}"
                     if is_adult and rng.random() < 0.6 else "")
            email = (f"{_login_name(first_name, last_name)}{rng.randrange(100)}@exemple.example"
                     if is_adult and rng.random() < 0.3 else "")
            person_id = self.new_id(Person)
            self.rows[Person].append((person_id, first_name, last_name, self.day(birth),
                                      person_sex, phone, email, household_id, created, 1, ""))
            self.rows[Membership].append((household_id, person_id, relationship,
                                          self.day(max(moved_in, birth))))
            self.rows[NameKey].extend((person_id, key) for key in name_keys(first_name, last_name))
            found.append((person_id, age))

        head = found[0][0]
        self.rows[Consent].append((head, ConsentPurpose.PROCESSING, True, created, referent))
        if rng.random() < 0.3:
            self.rows[Consent].append((head, ConsentPurpose.SMS, rng.random() < 0.8, created,
                                       referent))
        if rng.random() < 0.1:
            self.rows[Consent].append((head, ConsentPurpose.SHARING, rng.random() < 0.7, created,
                                       referent))
        if len(found) == 1 and found[0][1] >= 68 and rng.random() < 0.25:
            self.rows[Consent].append((head, ConsentPurpose.SENSORS, True, created, referent))
        return found

    def receptions(self, household_id: int, case_file_id: int, members: list[tuple[int, int]],
                   receptionists: list[int], opened: dt.datetime, end: dt.datetime
                   ) -> dt.datetime:
        """The visit that opened the file and a few later ones at the desk."""
        rng = self.rng
        times = [opened, *sorted(self.moment(opened, end) for _ in range(rng.randint(0, 3)))]
        for at in times:
            entry_id = self.new_id(ReceptionEntry)
            person = members[0][0] if rng.random() < 0.8 else rng.choice(members)[0]
            self.rows[ReceptionEntry].append((
                entry_id, household_id, person, case_file_id,
                self.seal(case_file_id, rng.choice(demo_names.RECEPTION_REASONS), ReceptionEntry,
                          "reason"), rng.choice(receptionists), self.at(at),
            ))
            self.event(case_file_id, at, EventKind.RECEPTION, entry_id)
        return times[-1]

    def sentence(self, kind: str) -> str:
        rng = self.rng
        template = rng.choice(demo_names.NOTE_PHRASES[kind])
        return template.format(amount=rng.randrange(20, 2500, 10), months=rng.randint(2, 18),
                               org=rng.choice(demo_names.NOTE_ORGS))

    def sentences(self, kind: str) -> list[str]:
        return [self.sentence(kind) for _ in range(self.rng.randint(1, 4))]

    def write_notes(self, case_file_id: int, referent: int, team_workers: list[int],
                    opened: dt.datetime, end: dt.datetime) -> dt.datetime:
        """Queue the file's notes; ids are given later, in time order across the chunk."""
        rng = self.rng
        count = rng.randint(*self.notes_per_household)
        last = opened
        for at in sorted(self.moment(opened, end) for _ in range(count)):
            kind = rng.choices(_NOTE_KINDS, _NOTE_KIND_WEIGHTS)[0]
            author = referent if rng.random() < 0.85 else rng.choice(team_workers)
            order = len(self.notes)
            self.notes.append([at, order, case_file_id, kind, self.sentences(kind), author, None,
                               1])
            last = max(last, at)
            if rng.random() < 0.03:  # a correction: the first version stays as history
                fixed = at + dt.timedelta(minutes=rng.uniform(5, 3 * 24 * 60))
                if fixed >= end:
                    fixed = at + (end - at) / 2
                fixed_text = [*self.notes[order][4], self.sentence(kind)]
                self.notes.append([fixed, order + 1, case_file_id, kind, fixed_text, author, order,
                                   2])
                last = max(last, fixed)
        return last

    def plan(self, case_file_id: int, referent: int, is_open: bool, opened: dt.datetime,
             end: dt.datetime) -> dt.datetime:
        """Assessments, then goals on the domains in difficulty, with their actions."""
        rng = self.rng
        last = opened
        first_levels: dict[str, int] = {}
        at = min(end, opened + dt.timedelta(days=rng.uniform(7, 45)))
        for number in range(rng.randint(1, 3)):
            if number:
                at = self.moment(at, end)
            assessment_id = self.new_id(Assessment)
            self.rows[Assessment].append((assessment_id, case_file_id, referent, self.at(at)))
            for domain in rng.sample(Domain.values, rng.randint(3, 7)):
                level = rng.choices(_LEVELS, _LEVEL_WEIGHTS)[0]
                comment = self.sentence(NoteKind.INTERVIEW) if rng.random() < 0.3 else ""
                household_id, key_pk, data_key = self.keys[case_file_id]
                sealed = crypto.seal_with(data_key, key_pk, household_id, comment, LEVEL_COMMENT)
                self.rows[DomainLevel].append((assessment_id, domain, level, sealed))
                if not number:
                    first_levels[domain] = level
            self.event(case_file_id, at, EventKind.ASSESSMENT, assessment_id)
            last = max(last, at)

        hard = [d for d, level in first_levels.items() if level >= 3] or list(first_levels)
        goal_start = min(end, opened + dt.timedelta(days=rng.uniform(30, 60)))
        for domain in rng.sample(hard, min(len(hard), rng.randint(1, 3))):
            goal_id = self.new_id(Goal)
            created = self.moment(goal_start, min(end, goal_start + 60 * _DAY))
            if is_open:
                status = rng.choices(
                    (GoalStatus.ACTIVE, GoalStatus.ACHIEVED, GoalStatus.ABANDONED), (70, 20, 10)
                )[0]
            else:
                status = rng.choices((GoalStatus.ACHIEVED, GoalStatus.ABANDONED), (65, 35))[0]
            title = self.seal(case_file_id, rng.choice(demo_names.GOAL_TITLES[domain]), Goal,
                              "title")
            self.rows[Goal].append((goal_id, case_file_id, domain, title, status,
                                    self.at(created), 1))
            self.event(case_file_id, created, EventKind.GOAL, goal_id)
            last = max(last, created, self.actions(case_file_id, goal_id, referent,
                                                   status == GoalStatus.ACTIVE, created, end))
        return last

    def actions(self, case_file_id: int, goal_id: int, referent: int, active: bool,
                goal_created: dt.datetime, end: dt.datetime) -> dt.datetime:
        """Steps of a goal: old ones done or cancelled, a few recent ones pending, some late."""
        rng = self.rng
        last = goal_created
        for _ in range(rng.randint(1, 3)):
            if active and rng.random() < 0.5:
                created = max(goal_created, self.now - dt.timedelta(days=rng.uniform(1, 60)))
                status = rng.choice((ActionStatus.TODO, ActionStatus.DOING))
            else:
                created = self.moment(goal_created, end)
                status = rng.choices((ActionStatus.DONE, ActionStatus.CANCELLED), (80, 20))[0]
            due = (created + dt.timedelta(days=rng.randint(14, 90))).date()
            owner = referent if rng.random() < 0.7 else None
            action_id = self.new_id(Action)
            title = self.seal(case_file_id, rng.choice(demo_names.ACTION_TITLES), Action, "title")
            self.rows[Action].append((action_id, goal_id, title, owner, self.day(due), status,
                                      self.at(created), 1))
            self.event(case_file_id, created, EventKind.ACTION, action_id)
            last = max(last, created)
        return last

    def referrals(self, case_file_id: int, referent: int, opened: dt.datetime,
                  end: dt.datetime) -> dt.datetime:
        """Orientations towards partner services, answered unless recent."""
        rng = self.rng
        last = opened
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            at = self.moment(opened, end)
            if self.now - at < 30 * _DAY:
                status = ReferralStatus.SENT
            else:
                status = rng.choices(
                    (ReferralStatus.ACCEPTED, ReferralStatus.COMPLETED, ReferralStatus.REFUSED,
                     ReferralStatus.SENT), (40, 35, 15, 10)
                )[0]
            referral_id = self.new_id(Referral)
            self.rows[Referral].append((
                referral_id, case_file_id,
                self.seal(case_file_id, rng.choice(demo_names.REFERRAL_SERVICES), Referral,
                          "service"),
                self.seal(case_file_id, rng.choice(demo_names.RECEPTION_REASONS), Referral,
                          "reason"), status, referent, self.at(at), 1,
            ))
            self.event(case_file_id, at, EventKind.REFERRAL, referral_id)
            last = max(last, at)
        return last

    def terms(self, sentence: str) -> set[str]:
        # Sentences repeat a lot across notes; their terms are computed once.
        cached = self.terms_cache.get(sentence)
        if cached is None:
            cached = self.terms_cache[sentence] = {crypto.blind(t) for t in french.terms(sentence)}
        return cached

    def number_notes(self) -> None:
        """Give notes ids in time order, so that a higher id is a more recent note."""
        self.notes.sort(key=lambda n: (n[0], n[1]))
        ids: dict[int, int] = {}
        corrected = {n[6] for n in self.notes if n[6] is not None}
        for at, order, case_file_id, kind, sentences, author, first, version_no in self.notes:
            note_id = ids[order] = self.new_id(Note)
            is_current = order not in corrected
            first_id = ids[first] if first is not None else None
            household_id, key_pk, data_key = self.keys[case_file_id]
            body = crypto.seal_with(data_key, key_pk, household_id, " ".join(sentences),
                                    NOTE_BODY)
            self.rows[Note].append((note_id, case_file_id, kind, body, author,
                                    self.at(at), first_id, version_no, is_current, False))
            if first_id is None:
                self.event(case_file_id, at, EventKind.NOTE, note_id)
            if is_current:
                # Sentences are joined by a space, so a note's terms are its sentences' terms.
                terms = set().union(*(self.terms(s) for s in sentences))
                self.rows[NoteTerm].extend((term, note_id, case_file_id, False) for term in terms)
        self.notes.clear()

    def write(self) -> None:
        """Insert every row of the chunk, parents first."""
        with connection.cursor() as cursor:
            for model in _COLUMNS:
                if rows := self.rows.get(model):
                    _insert_rows(cursor, model, rows)
        self.rows.clear()


def _datetime_adapter() -> Callable[[dt.datetime | None], Any]:
    """Django's datetime adapter, or on SQLite in UTC the same text computed without its checks.

    It runs for millions of values when seeding the benchmark; the generator's datetimes are
    all aware and in UTC, which SQLite stores as naive UTC text.
    """
    if connection.vendor != "sqlite" or connection.timezone != dt.UTC:
        return connection.ops.adapt_datetimefield_value
    return lambda value: None if value is None else str(value.replace(tzinfo=None))


@contextmanager
def _bulk_cache() -> Iterator[None]:
    """On SQLite, a larger page cache while seeding: index inserts then rarely miss it."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute("PRAGMA cache_size = -262144")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def _next_ids() -> dict[type[models.Model], int]:
    return {model: (model._default_manager.aggregate(top=Max("pk"))["top"] or 0) + 1
            for model in _ID_MODELS}


def reset_sequences() -> None:
    """Move the databases' id sequences past the ids chosen by the generator (PostgreSQL)."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(_COLUMNS))
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def generate_households(rng: random.Random, department: Department, count: int,
                        notes_per_household: tuple[int, int] = (1, 20), chunk_size: int = 5000,
                        progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Add `count` households with members and case histories; return rows written per model.

    Each chunk of households is one transaction; ids continue from the highest in use.
    """
    now = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    next_ids = _next_ids()
    featured_left: dict[int, int] = {}
    featured_odds: dict[int, float] = {}
    for team_id, worker in department.featured.items():
        have = CaseFile.objects.filter(referent_id=worker, status=CaseStatus.OPEN).count()
        featured_left[worker] = max(0, rng.randint(*FEATURED_CASELOAD) - have)
        teams = next(len(t) for t in department.teams.values() if team_id in t)
        expected = count * OPEN_SHARE / len(department.territory_ids) / teams
        featured_odds[worker] = min(1.0, 1.3 * featured_left[worker] / max(1.0, expected))
    counts: dict[str, int] = defaultdict(int)
    done = 0
    with _bulk_cache():
        while done < count:
            size = min(chunk_size, count - done)
            chunk = _Chunk(rng, department, now, next_ids, notes_per_household, featured_left,
                           featured_odds)
            for _ in range(size):
                chunk.household()
            chunk.number_notes()
            for model, rows in chunk.rows.items():
                counts[model._meta.label] += len(rows)
            with transaction.atomic():
                chunk.write()
            done += size
            if progress:
                progress(done, count)
    reset_sequences()
    return dict(counts)


def seed(households: int, seed: int, progress: Callable[[int, int], None] | None = None
         ) -> dict[str, int]:
    """Build the whole demo département from one random seed; same seed, same people."""
    rng = random.Random(seed)
    department = build_organisation(rng)
    return generate_households(rng, department, households, progress=progress)


def demo_logins() -> list[tuple[str, str, str]]:
    """(username, role, territory) of the demo accounts, in the documented order."""
    users = {u.username: u for u in User.objects.select_related("territory")
             .filter(username__in=[login.username for login in DEMO_LOGINS])}
    return [(login.username, login.role, str(users[login.username].territory or "—"))
            for login in DEMO_LOGINS if login.username in users]
