"""Synthetic feeds with a hidden truth, for the demo, the tests and the benchmark.

A latent state is drawn for each household — fragile (low income, coping), in crisis along
one pathway (loss of resources, housing, health, isolation), moving out — and each month's
indicators are drawn from it. Crisis shows in combinations and sizes more than in any single
flag, and fragile households that cope, and people moving out (a cut-off, nothing else),
collect points too: a points scorecard is fooled where a learned model need not be. Cells go
missing and some records fail to link, as they do in real files.

Two outputs. With the database: the registry of sources, provider files with the raw key
(address or identifier) for `entraide screening import`, and the households' link keys.
Without (`--no-db`, the benchmark): population, link keys and feeds as Parquet only, in
chunks of a million households, vectorised. The truth (household_id, in_crisis) is written
apart, for tests, evaluation and the benchmark only.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from . import feeds
from .pipeline import Column, Feed
from .services import AGE_BANDS, HOUSEHOLD_TYPES

CHUNK = 1_000_000
DEMO_NOTICE = "Données de démonstration : base légale à faire valider par le DPO. "
PATHWAYS = ("ressources", "logement", "sante", "isolement")


@dataclass(frozen=True)
class IndicatorSpec:
    code: str
    label: str
    kind: str
    points: int = 0
    threshold: float = 1
    explanation: str = ""
    maximum: float | None = 1


@dataclass(frozen=True)
class SourceSpec:
    code: str
    name: str
    provider: str
    key_kind: str
    key_column: str
    refresh_days: int
    retention_days: int
    legal_basis: str
    indicators: tuple[IndicatorSpec, ...]


def _flag(code: str, label: str, points: int, explanation: str) -> IndicatorSpec:
    return IndicatorSpec(code, label, "flag", points, 1, explanation, 1)


def _value(code: str, label: str, kind: str, maximum: float, threshold: float, points: int,
           explanation: str) -> IndicatorSpec:
    return IndicatorSpec(code, label, kind, points, threshold, explanation, maximum)


REGISTRY: tuple[SourceSpec, ...] = (
    SourceSpec(
        "energie", "Impayés et coupures d'énergie", "Fournisseur d'électricité et de gaz",
        "address", "adresse_point_livraison", 45, 400,
        DEMO_NOTICE + "Code de l'action sociale et des familles, art. L115-3 ; décret "
        "n° 2008-780 du 13 août 2008 relatif à la procédure applicable en cas d'impayés des "
        "factures d'électricité, de gaz, de chaleur et d'eau ; convention départementale du "
        "fonds de solidarité pour le logement (FSL).",
        (
            _flag("coupure", "Coupure de fourniture d'énergie", 4,
                  "L'électricité ou le gaz a été coupé au logement."),
            _flag("reduction_puissance", "Puissance réduite pour impayé", 3,
                  "La puissance électrique a été réduite pour impayé."),
            _value("impaye_montant", "Factures d'énergie impayées (€)", "amount", 20000, 300, 2,
                   "Plus de 300 € de factures d'énergie impayées."),
            _value("factures_impayees", "Nombre de factures d'énergie impayées", "count", 36,
                   2, 1, "Au moins deux factures d'énergie impayées."),
            _value("jours_retard", "Ancienneté de l'impayé d'énergie (jours)", "days", 1500, 90,
                   2, "Un impayé d'énergie de plus de trois mois."),
            _flag("echeancier_rompu", "Échéancier de paiement non tenu", 2,
                  "Un échéancier de paiement de l'énergie n'a pas été tenu."),
            _flag("cheque_energie_non_utilise", "Chèque énergie non utilisé", 1,
                  "Le chèque énergie de l'année n'a pas été utilisé."),
            _flag("demande_fsl", "Aide FSL énergie demandée", 1,
                  "Une aide du fonds de solidarité pour l'énergie a été demandée."),
        ),
    ),
    SourceSpec(
        "eau", "Impayés d'eau", "Régie intercommunale des eaux",
        "address", "adresse_branchement", 100, 400,
        DEMO_NOTICE + "Code de l'action sociale et des familles, art. L115-3 (maintien de la "
        "fourniture d'eau) ; décret n° 2008-780 du 13 août 2008 ; convention FSL, volet eau.",
        (
            _value("impaye_montant", "Factures d'eau impayées (€)", "amount", 10000, 150, 1,
                   "Plus de 150 € de factures d'eau impayées."),
            _value("factures_impayees", "Nombre de factures d'eau impayées", "count", 24, 2, 1,
                   "Au moins deux factures d'eau impayées."),
            _value("jours_retard", "Ancienneté de l'impayé d'eau (jours)", "days", 1500, 120, 1,
                   "Un impayé d'eau de plus de quatre mois."),
            _flag("relance_recommandee", "Relance par lettre recommandée", 1,
                  "Une relance pour l'eau a été envoyée en recommandé."),
            _flag("consommation_anormale", "Consommation d'eau anormale", 0,
                  "Une consommation d'eau anormale (fuite, logement dégradé)."),
            _flag("consommation_nulle", "Aucune consommation d'eau depuis trois mois", 0,
                  "Aucune consommation d'eau depuis trois mois."),
        ),
    ),
    SourceSpec(
        "logement", "Impayés de loyer (bailleur social)", "Office public de l'habitat",
        "identifier", "nir_titulaire_bail", 45, 730,
        DEMO_NOTICE + "Loi n° 90-449 du 31 mai 1990, art. 7-2 (commission de coordination des "
        "actions de prévention des expulsions locatives, CCAPEX) ; loi n° 2014-366 du "
        "24 mars 2014 (ALUR), signalement des impayés de loyer ; charte départementale de "
        "prévention des expulsions.",
        (
            _value("loyers_impayes", "Loyers impayés (mois)", "count", 60, 2, 2,
                   "Au moins deux loyers impayés."),
            _value("dette_locative", "Dette de loyer (€)", "amount", 50000, 1000, 2,
                   "Une dette de loyer de plus de 1 000 €."),
            _value("jours_retard", "Ancienneté de la dette de loyer (jours)", "days", 3000, 60,
                   1, "Une dette de loyer de plus de deux mois."),
            _flag("commandement_payer", "Commandement de payer délivré", 4,
                  "Un commandement de payer a été délivré : la procédure d'expulsion est "
                  "engagée."),
            _flag("assignation", "Assignation pour expulsion", 5,
                  "Le bailleur a assigné le ménage devant le juge pour expulsion."),
            _flag("plan_apurement_rompu", "Plan d'apurement non tenu", 2,
                  "Un plan de remboursement de la dette de loyer n'a pas été tenu."),
            _flag("signalement_ccapex", "Signalé à la CCAPEX", 2,
                  "Le ménage a été signalé à la commission de prévention des expulsions."),
            _flag("suroccupation", "Suroccupation signalée", 0,
                  "Le bailleur signale un logement suroccupé."),
        ),
    ),
    SourceSpec(
        "sante", "Droits et impayés d'assurance maladie", "Caisse primaire d'assurance maladie",
        "identifier", "nir", 60, 365,
        DEMO_NOTICE + "Code de la sécurité sociale, art. L160-1 (protection universelle "
        "maladie) et L861-1 (complémentaire santé solidaire) ; convention de partenariat "
        "CPAM – conseil départemental pour l'accès aux droits et aux soins.",
        (
            _flag("droits_fermes", "Droits à l'assurance maladie fermés", 3,
                  "Les droits à l'assurance maladie sont fermés."),
            _flag("css_non_renouvelee", "Complémentaire santé solidaire non renouvelée", 2,
                  "La complémentaire santé solidaire n'a pas été renouvelée."),
            _value("cotisations_impayees", "Cotisations de complémentaire impayées (€)",
                   "amount", 10000, 100, 1, "Des cotisations de complémentaire santé impayées."),
            _flag("renoncement_soins", "Renoncement aux soins repéré", 2,
                  "L'assurance maladie a repéré un renoncement aux soins."),
            _value("mois_sans_soins", "Mois sans aucun soin remboursé", "count", 120, 12, 1,
                   "Aucun soin remboursé depuis plus d'un an."),
            _flag("ald_sans_suivi", "Affection de longue durée sans suivi récent", 0,
                  "Une affection de longue durée sans suivi récent."),
        ),
    ),
    SourceSpec(
        "prestations", "Suspensions de prestations sociales", "Caisse d'allocations familiales",
        "identifier", "nir_allocataire", 45, 365,
        DEMO_NOTICE + "Code de la sécurité sociale, art. L114-12 et L583-3 (échanges "
        "d'informations) ; code de l'action sociale et des familles, art. L262-40 (revenu "
        "de solidarité active) ; convention de gestion CAF – département.",
        (
            _flag("rsa_suspendu", "RSA suspendu", 3,
                  "Le revenu de solidarité active est suspendu."),
            _flag("aide_logement_suspendue", "Aide au logement suspendue", 3,
                  "L'aide au logement est suspendue (impayé signalé ou pièce manquante)."),
            _value("indu_montant", "Trop-perçu à rembourser (€)", "amount", 50000, 500, 1,
                   "Un trop-perçu de plus de 500 € est à rembourser."),
            _value("declarations_manquantes", "Déclarations trimestrielles manquantes", "count",
                   12, 1, 1, "Une déclaration trimestrielle de ressources n'a pas été faite."),
            _flag("radiation_france_travail", "Radiation de France Travail", 2,
                  "Radiation de la liste des demandeurs d'emploi."),
            _value("baisse_ressources", "Baisse des ressources (€ par mois)", "amount", 10000,
                   400, 2, "Des ressources en baisse de plus de 400 € par mois."),
            _value("jours_suspension", "Durée de la suspension (jours)", "days", 1500, 30, 1,
                   "Une prestation suspendue depuis plus d'un mois."),
        ),
    ),
    SourceSpec(
        "impots", "Impayés de redevances et services locaux", "Trésorerie municipale",
        "address", "adresse_local", 100, 400,
        DEMO_NOTICE + "Code général des collectivités territoriales, art. L1611-5 et "
        "R1617-24 (recouvrement des produits locaux) ; convention de partenariat "
        "trésorerie – centre communal d'action sociale.",
        (
            _value("ordures_impayees", "Redevance d'ordures ménagères impayée (€)", "amount",
                   5000, 150, 1, "Plus de 150 € de redevance d'ordures ménagères impayée."),
            _value("cantine_impayee", "Cantine et périscolaire impayés (€)", "amount", 5000,
                   100, 1, "Plus de 100 € de cantine ou de périscolaire impayés."),
            _value("relances", "Relances envoyées", "count", 24, 3, 1,
                   "Au moins trois relances pour des services locaux impayés."),
            _flag("saisie", "Saisie administrative à tiers détenteur", 2,
                  "Une saisie a été faite sur un compte ou un salaire."),
            _value("jours_retard", "Ancienneté de l'impayé local (jours)", "days", 3000, 180,
                   1, "Un impayé local de plus de six mois."),
        ),
    ),
)


def registry() -> list[Feed]:
    """The synthetic registry as the pipeline reads it (no database needed)."""
    return [Feed(s.code, s.key_kind, s.refresh_days,
                 tuple(Column(s.code, i.code, i.label, i.threshold, i.points, i.explanation)
                       for i in s.indicators)) for s in REGISTRY]


def register() -> int:
    """Create the synthetic registry's sources and indicators that do not exist yet; what
    team leads changed since is left as it is. Returns how many rows were created."""
    from .models import Indicator, Source

    created = 0
    for spec in REGISTRY:
        source, new = Source.objects.get_or_create(code=spec.code, defaults={
            "name": spec.name, "provider": spec.provider, "key_kind": spec.key_kind,
            "key_column": spec.key_column, "refresh_days": spec.refresh_days,
            "retention_days": spec.retention_days, "legal_basis": spec.legal_basis})
        created += new
        for item in spec.indicators:
            _indicator, new = Indicator.objects.get_or_create(source=source, code=item.code,
                                                              defaults={
                "label": item.label, "kind": item.kind, "maximum": item.maximum,
                "threshold": item.threshold, "points": item.points,
                "explanation": item.explanation})
            created += new
    return created


# --- the hidden state ---------------------------------------------------------------------

@dataclass
class Latent:
    """What is true of each household of a chunk, and what no feed says outright."""

    crisis: np.ndarray      # in crisis in the latest month: the truth
    earlier: np.ndarray     # in crisis the month before already
    pathway: np.ndarray     # index in PATHWAYS (meaningful in crisis only)
    fragile: np.ndarray
    mover: np.ndarray
    tenant: np.ndarray      # social housing: in the landlord's feed
    allocataire: np.ndarray  # receives benefits: in the family-allowance feed
    water: np.ndarray       # billed by the régie: in the water feed
    children: np.ndarray
    visibility: np.ndarray  # how much of a crisis shows in the feeds (0: none of it)
    strain: np.ndarray      # how hard a fragile household is pressed (mean 1)


def _latent(rng: np.random.Generator, age: np.ndarray, kind: np.ndarray) -> Latent:
    n = len(age)
    elderly = age >= AGE_BANDS.index("60_74")
    elderly &= age != AGE_BANDS.index("unknown")
    single_parent = kind == HOUSEHOLD_TYPES.index("single_parent")
    children = single_parent | (kind == HOUSEHOLD_TYPES.index("family"))
    alone = kind == HOUSEHOLD_TYPES.index("alone")
    fragile = rng.random(n) < 0.18 + 0.2 * single_parent + 0.08 * alone
    crisis = rng.random(n) < np.where(fragile, 0.13, 0.012) * np.where(single_parent, 1.4, 1.0)
    # Elderly people's crises are mostly isolation and health; families' money and housing.
    weights = np.where(elderly[:, None], [0.1, 0.1, 0.3, 0.5],
                       np.where(children[:, None], [0.35, 0.4, 0.15, 0.1],
                                [0.4, 0.25, 0.25, 0.1]))
    pathway = np.minimum((rng.random(n)[:, None] > np.cumsum(weights, axis=1)).sum(axis=1), 3)
    return Latent(
        crisis=crisis, earlier=crisis & (rng.random(n) < 0.6), pathway=pathway,
        fragile=fragile, mover=~crisis & (rng.random(n) < 0.02),
        tenant=rng.random(n) < 0.12 + 0.3 * fragile + 0.25 * (crisis & (pathway == 1)),
        allocataire=rng.random(n) < np.where(elderly, 0.1, 0.3) + 0.45 * fragile,
        water=rng.random(n) < 0.75, children=children,
        visibility=rng.beta(1.2, 1.5, n), strain=rng.gamma(2.0, 0.5, n),
    )


class _Draw:
    """Draws of one month for one chunk: a probability per group, sizes by state."""

    def __init__(self, rng: np.random.Generator, latent: Latent, crisis: np.ndarray):
        self.rng, self.latent, self.crisis = rng, latent, crisis
        self.n = len(crisis)
        self.on_path = [crisis & (latent.pathway == k) for k in range(len(PATHWAYS))]

    def chance(self, base: float, fragile: float, *by_pathway: float) -> np.ndarray:
        """Whether it happens: base + fragile (as pressed) + the crisis pathway's own
        likelihood (as visible)."""
        p = base + fragile * self.latent.fragile * self.latent.strain
        for on_path, extra in zip(self.on_path, by_pathway, strict=False):
            p = p + extra * on_path * self.latent.visibility
        return self.rng.random(self.n) < np.minimum(p, 0.98)

    def _grown(self, usual: float, in_crisis: float) -> np.ndarray:
        return usual + (in_crisis - usual) * self.crisis * self.latent.visibility

    def size(self, usual: float, in_crisis: float, spread: float = 0.5) -> np.ndarray:
        """How big, when it happens: a log-normal around a median, larger in crisis."""
        return np.round(self._grown(usual, in_crisis) * self.rng.lognormal(0, spread, self.n),
                        2)

    def days(self, usual: float, in_crisis: float, spread: float = 0.5) -> np.ndarray:
        return np.maximum(np.round(self.size(usual, in_crisis, spread)), 1.0)

    def count(self, usual: float, in_crisis: float) -> np.ndarray:
        return 1.0 + self.rng.poisson(self._grown(usual, in_crisis))


def _month(rng: np.random.Generator, latent: Latent, crisis: np.ndarray
           ) -> dict[str, np.ndarray]:
    """One month of every source for a chunk: {source: values (households x indicators)},
    zero where nothing is to report. The order of columns is the registry's."""
    d = _Draw(rng, latent, crisis)
    z = np.zeros(d.n)
    mover = latent.mover

    # Energy: arrears size the amount and the age; cut-offs also hit people moving out.
    unpaid = np.where(d.chance(0.03, 0.25, 0.7, 0.6, 0.3, 0.2), d.count(0.3, 2.0), z)
    owed = unpaid > 0
    energie = [
        (mover | (owed & d.chance(0.0, 0.01, 0.3, 0.15, 0.05, 0.1))).astype(float),
        (owed & d.chance(0.01, 0.03, 0.35, 0.2, 0.1, 0.1)).astype(float),
        unpaid * d.size(90, 160),
        unpaid,
        np.where(owed, unpaid * 30 + rng.integers(0, 30, d.n), 0),
        (owed & d.chance(0.01, 0.08, 0.35, 0.25, 0.1, 0.05)).astype(float),
        d.chance(0.01, 0.2, 0.1, 0.05, 0.2, 0.6).astype(float),
        (owed & d.chance(0.0, 0.06, 0.2, 0.2, 0.05, 0.0)).astype(float),
    ]
    # Water, for the homes the régie bills; nothing used at all: away, or not coping.
    unpaid = np.where(d.chance(0.02, 0.15, 0.5, 0.4, 0.2, 0.3), d.count(0.2, 1.2), z)
    owed = unpaid > 0
    eau = [
        unpaid * d.size(55, 90), unpaid,
        np.where(owed, unpaid * 60 + rng.integers(0, 60, d.n), 0),
        (owed & d.chance(0.1, 0.2, 0.4, 0.4, 0.2, 0.2)).astype(float),
        d.chance(0.02, 0.03, 0.0, 0.05, 0.1, 0.2).astype(float),
        ((mover & (rng.random(d.n) < 0.5)) | d.chance(0.005, 0.0, 0, 0, 0.05, 0.35)
         ).astype(float),
    ]
    # Rent: months owed drive the debt and the steps of the eviction procedure.
    rent = np.where(latent.tenant & d.chance(0.02, 0.2, 0.5, 0.85, 0.2, 0.1),
                    d.count(0.2, 2.5), z)
    served = (rent >= 2) & d.chance(0.1, 0.05, 0.3, 0.5, 0.2, 0.2)
    logement = [
        rent, rent * d.size(420, 450, 0.25),
        np.where(rent > 0, rent * 30 + rng.integers(0, 30, d.n), 0),
        served.astype(float),
        (served & d.chance(0.1, 0.0, 0.4, 0.5, 0.3, 0.3)).astype(float),
        ((rent > 0) & d.chance(0.05, 0.1, 0.3, 0.3, 0.1, 0.1)).astype(float),
        (served & d.chance(0.3, 0.0, 0.4, 0.4, 0.3, 0.3)).astype(float),
        (latent.tenant & latent.children & d.chance(0.03, 0.05, 0, 0.1, 0, 0)).astype(float),
    ]
    # Health: a closed right alone is paperwork; with a long illness unfollowed, a crisis.
    closed = d.chance(0.01, 0.05, 0.1, 0.05, 0.35, 0.3)
    long_illness = d.chance(0.01, 0.01, 0.0, 0.0, 0.45, 0.2)
    sante = [
        closed.astype(float),
        d.chance(0.01, 0.12, 0.2, 0.1, 0.3, 0.25).astype(float),
        np.where(d.chance(0.02, 0.1, 0.3, 0.1, 0.2, 0.05), d.size(80, 250), 0),
        d.chance(0.005, 0.03, 0.05, 0.05, 0.3, 0.35).astype(float),
        np.where(d.chance(0.08, 0.02, 0.0, 0.0, 0.1, 0.6), 11.0 + d.count(3, 10), 0),
        (long_illness & (closed | d.chance(0.3, 0.0, 0, 0, 0.3, 0.5))).astype(float),
    ]
    # Benefits, for those who receive some: suspensions are often mere missing papers.
    rsa = d.chance(0.02, 0.04, 0.5, 0.1, 0.15, 0.1)
    housing_aid = d.chance(0.01, 0.03, 0.2, 0.45, 0.05, 0.05) | (rent >= 3)
    suspended = rsa | housing_aid
    prestations = [
        rsa.astype(float), housing_aid.astype(float),
        np.where(d.chance(0.02, 0.1, 0.3, 0.05, 0.05, 0.05), d.size(350, 1200, 0.7), 0),
        np.where(d.chance(0.03, 0.1, 0.35, 0.1, 0.1, 0.25), d.count(0.1, 0.8), 0),
        d.chance(0.01, 0.03, 0.35, 0.05, 0.1, 0.0).astype(float),
        np.where(d.chance(0.03, 0.06, 0.7, 0.2, 0.3, 0.1), d.size(200, 650), 0),
        np.where(suspended, d.days(20, 65, 0.6), 0),
    ]
    # Local services: school meals only where there are children.
    refuse = np.where(d.chance(0.03, 0.15, 0.3, 0.3, 0.1, 0.2), d.size(110, 240), z)
    meals = np.where(latent.children & d.chance(0.02, 0.2, 0.4, 0.3, 0.1, 0.0),
                     d.size(80, 220), z)
    late = (refuse > 0) | (meals > 0)
    impots = [
        refuse, meals,
        np.where(late, rng.poisson(np.where(d.crisis, 3.0, 1.2)) + 1.0, 0),
        (late & d.chance(0.02, 0.03, 0.2, 0.2, 0.05, 0.05)).astype(float),
        np.where(late, d.days(80, 230), 0),
    ]
    columns = {"energie": energie, "eau": eau, "logement": logement, "sante": sante,
               "prestations": prestations, "impots": impots}
    present = {"eau": latent.water, "logement": latent.tenant,
               "prestations": latent.allocataire}
    out = {}
    for code, values in columns.items():
        matrix = np.column_stack(values).astype(float)
        if code in present:
            matrix[~present[code]] = 0.0
        out[code] = matrix
    return out


@dataclass
class Chunk:
    """One chunk of synthetic households and their months, before any key is attached."""

    household_ids: np.ndarray
    crisis: np.ndarray
    months: dict[str, dict[str, np.ndarray]]  # period -> source -> values (NaN: missing)
    linked: dict[str, dict[str, np.ndarray]]  # period -> source -> record finds its home


def _periods(end: str, months: int) -> list[str]:
    year, month = (int(part) for part in end.split("-"))
    out = []
    for back in range(months - 1, -1, -1):
        y, m = divmod(year * 12 + month - 1 - back, 12)
        out.append(f"{y:04d}-{m + 1:02d}")
    return out


def last_month(today: dt.date | None = None) -> str:
    """The last complete month, the default end of synthetic feeds."""
    first = (today or dt.date.today()).replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def generate(household_ids: np.ndarray, age_band: np.ndarray, household_type: np.ndarray,
             seed: int, periods: list[str], chunk_index: int = 0) -> Chunk:
    """Draw the latent state and the months of one chunk (ages and types as indexes)."""
    rng = np.random.default_rng([seed, chunk_index])
    latent = _latent(rng, age_band, household_type)
    spec = {s.code: s for s in REGISTRY}
    months: dict[str, dict[str, np.ndarray]] = {}
    linked: dict[str, dict[str, np.ndarray]] = {}
    for back, period in enumerate(reversed(periods)):
        values = _month(rng, latent, latent.crisis if back == 0 else latent.earlier)
        months[period], linked[period] = {}, {}
        for code, matrix in values.items():
            matrix[rng.random(matrix.shape) < 0.03] = np.nan  # cells the provider left empty
            miss = 0.04 if spec[code].key_kind == "address" else 0.01  # typos, old addresses
            months[period][code] = matrix
            linked[period][code] = rng.random(len(matrix)) >= miss
    return Chunk(household_ids, latent.crisis, months, linked)


def _records(matrix: np.ndarray) -> np.ndarray:
    """Rows the provider sends: those with anything to report."""
    return np.flatnonzero(np.any(np.nan_to_num(matrix) != 0, axis=1))


# --- with the database: provider files for `import`, the households' link keys -------------

@dataclass
class Written:
    households: int
    in_crisis: int
    files: list[Path]
    truth: Path
    link_keys: int = 0


def synthetic_identifier(household_id: int) -> str:
    """A made-up identifier for a household, the same on every run: identity numbers are
    sealed, and the 99 prefix is no valid social security number."""
    return f"99{household_id:011d}"


def _raw_address(address: str, variant: float) -> str:
    # Providers write addresses their own way; normalisation makes them meet again.
    if variant < 0.3:
        return address.upper()
    if variant < 0.5:
        return address.replace(" ", ", ", 1)
    return address


def _mangled(key: str) -> str:
    head, _sep, rest = key.partition(" ")
    return f"{head} BIS {rest}"


def _write_truth(path: Path, household_ids: np.ndarray, crisis: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"household_id": pa.array(household_ids, pa.int64()),
                             "in_crisis": pa.array(crisis, pa.bool_())}), path)


def synth_dir() -> Path:
    return Path(settings.ENTRAIDE_SCREENING_DIR) / "synth"


def truth_path() -> Path:
    """Where the synthetic truth of the database's households is kept."""
    return synth_dir() / "truth.parquet"


def with_database(households: int | None, seed: int = 42, months: int = 2,
                  out: Path | None = None, end: str | None = None) -> Written:
    """Synthetic provider files for the database's households (the first `households` of
    them, all when None): the registry, the link keys, one CSV per source and month under
    `out` (default ENTRAIDE_SCREENING_DIR/synth/inbox), the truth in synth/truth.parquet."""
    from entraide.people.models import Household

    from . import pseudonym, services
    from .models import KeyKind, LinkKey

    register()
    population = services.population()
    if households is not None:
        population = population.slice(0, households)
    ids = population["household_id"].to_numpy()
    homes = Household.objects.in_bulk(ids.tolist())
    addresses = {h: pseudonym.address_of(homes[h].address, homes[h].postcode,
                                         homes[h].commune) for h in ids.tolist()}
    keys = [LinkKey(household_id=h, kind=KeyKind.ADDRESS,
                    digest=pseudonym.digest(KeyKind.ADDRESS, addresses[h])) for h in addresses]
    keys += [LinkKey(household_id=h, kind=KeyKind.IDENTIFIER,
                     digest=pseudonym.digest(KeyKind.IDENTIFIER, synthetic_identifier(h)))
             for h in addresses]
    # Two households at one address cannot both own its digest: the first keeps it.
    LinkKey.objects.bulk_create([k for k in keys if k.digest], ignore_conflicts=True,
                                batch_size=2000)

    periods = _periods(end or last_month(), months)
    chunk = generate(ids, _codes(population["age_band"], AGE_BANDS),
                     _codes(population["household_type"], HOUSEHOLD_TYPES), seed, periods)
    out = out or synth_dir() / "inbox"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1_000_003])
    files = []
    for spec in REGISTRY:
        for period in periods:
            matrix = chunk.months[period][spec.code]
            path = out / f"{spec.code}-{period}.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow([spec.key_column, "period", *(i.code for i in spec.indicators)])
                for row in _records(matrix):
                    h = int(ids[row])
                    if spec.key_kind == "address":
                        key = _raw_address(addresses[h], rng.random())
                    else:
                        raw = synthetic_identifier(h)
                        key = f"{raw[:2]} {raw[2:7]} {raw[7:]}" if rng.random() < 0.3 else raw
                    if not chunk.linked[period][spec.code][row]:
                        key = _mangled(key)
                    writer.writerow([key, period, *("" if np.isnan(v) else f"{v:.15g}"
                                                    for v in matrix[row])])
            files.append(path)
    _write_truth(truth_path(), ids, chunk.crisis)
    return Written(len(ids), int(chunk.crisis.sum()), files, truth_path(), len(keys))


def _codes(column: pa.ChunkedArray, values: tuple[str, ...]) -> np.ndarray:
    index = {value: i for i, value in enumerate(values)}
    return np.array([index.get(v, len(values) - 1) for v in column.to_pylist()], dtype=np.int8)


def write_feeds(chunk: Chunk, links: dict[str, pa.Array], root: Path) -> int:
    """Write a chunk's months straight into the feeds layout (source=/period=/data.parquet)
    under `root`, linking each record by the household's digest of the source's key kind;
    `links` maps a key kind to the digests, aligned with the chunk's households. Returns the
    rows written. Used where there is no provider file to import: tests and benchmark."""
    spec = {s.code: s for s in REGISTRY}
    written = 0
    for period, sources in chunk.months.items():
        for code, matrix in sources.items():
            table = _long(matrix, chunk.linked[period][code], links[spec[code].key_kind],
                          [i.code for i in spec[code].indicators])
            path = root / f"source={code}" / f"period={period}" / "data.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path, compression="zstd")
            written += len(table)
    return written


def _long(matrix: np.ndarray, linked: np.ndarray, links: pa.Array,
          codes: list[str]) -> pa.Table:
    """The long (link, indicator, value) rows of one source-month: reported cells only."""
    keep = (np.nan_to_num(matrix) != 0) & linked[:, None]
    rows, cols = np.nonzero(keep)
    indicator = pa.DictionaryArray.from_arrays(pa.array(cols.astype(np.int32)),
                                               pa.array(codes, pa.string()))
    return pa.table({"link": links.take(pa.array(rows)),
                     "indicator": indicator.cast(pa.string()),
                     "value": pa.array(matrix[rows, cols], pa.float64())}, schema=feeds.SCHEMA)


# --- without the database: the benchmark's population, keys, feeds and truth ----------------

AGE_SHARES = (0.14, 0.24, 0.25, 0.22, 0.15)
TYPE_SHARES = (0.36, 0.25, 0.24, 0.09, 0.06)


def _hex_digests(rng: np.random.Generator, n: int) -> pa.Array:
    """n distinct-looking 64-hex link digests, built without a Python loop."""
    data = rng.bytes(32 * n).hex().encode("ascii")
    offsets = np.arange(0, 64 * n + 1, 64, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _chunks(households: int) -> Iterator[tuple[int, int, int]]:
    for index, start in enumerate(range(0, households, CHUNK)):
        yield index, start, min(start + CHUNK, households)


def without_database(households: int, out: Path, seed: int = 42, months: int = 2,
                     end: str | None = None) -> Written:
    """Population, link keys, feeds and truth of `households` synthetic households under
    `out`, as Parquet only (the benchmark mode)."""
    periods = _periods(end or last_month(), months)
    territories = max(3, households // 50_000)
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    in_crisis = 0
    try:
        for index, start, stop in _chunks(households):
            rng = np.random.default_rng([seed, index, 7])
            n = stop - start
            ids = np.arange(start + 1, stop + 1, dtype=np.int64)
            age = rng.choice(len(AGE_SHARES), n, p=AGE_SHARES).astype(np.int8)
            kind = rng.choice(len(TYPE_SHARES), n, p=TYPE_SHARES).astype(np.int8)
            chunk = generate(ids, age, kind, seed, periods, index)
            in_crisis += int(chunk.crisis.sum())
            followed = rng.random(n) < np.where(chunk.crisis, 0.3, 0.04)
            links = {"address": _hex_digests(rng, n), "identifier": _hex_digests(rng, n)}
            tables = {
                "population": pa.table({
                    "household_id": ids,
                    "territory_id": rng.integers(1, territories + 1, n, dtype=np.int64),
                    "age_band": pa.DictionaryArray.from_arrays(
                        pa.array(age), pa.array(AGE_BANDS)).cast(pa.string()),
                    "household_type": pa.DictionaryArray.from_arrays(
                        pa.array(kind), pa.array(HOUSEHOLD_TYPES)).cast(pa.string()),
                    "open_case": followed}),
                "link_keys": pa.table({
                    "household_id": np.concatenate([ids, ids]),
                    "kind": pa.array(["address"] * n + ["identifier"] * n, pa.string()),
                    "digest": pa.concat_arrays([links["address"], links["identifier"]])}),
                "truth": pa.table({"household_id": ids, "in_crisis": chunk.crisis}),
            }
            for name, table in tables.items():
                if name not in writers:
                    writers[name] = pq.ParquetWriter(out / f"{name}.parquet", table.schema,
                                                     compression="zstd")
                writers[name].write_table(table)
            spec = {s.code: s for s in REGISTRY}
            for period, sources in chunk.months.items():
                for code, matrix in sources.items():
                    table = _long(matrix, chunk.linked[period][code],
                                  links[spec[code].key_kind],
                                  [i.code for i in spec[code].indicators])
                    name = f"source={code}/period={period}"
                    if name not in writers:
                        path = out / "feeds" / name / "data.parquet"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        writers[name] = pq.ParquetWriter(path, feeds.SCHEMA,
                                                         compression="zstd")
                    writers[name].write_table(table)
    finally:
        for writer in writers.values():
            writer.close()
    return Written(households, in_crisis, sorted((out / "feeds").rglob("*.parquet")),
                   out / "truth.parquet")
