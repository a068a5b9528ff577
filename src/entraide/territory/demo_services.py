"""A realistic service directory for the synthetic département: the public services,
associations, health services and citizen activities a French social worker refers to,
placed near the centres of the demo communes (`people.demo_names.TERRITORIES`)."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from django.db import transaction

from entraide import french
from entraide.org.models import Organisation
from entraide.people import demo_names

from .models import Service, ServiceCategory

PUBLIC, ASSOCIATION, HEALTH, CITIZEN = (ServiceCategory.PUBLIC, ServiceCategory.ASSOCIATION,
                                        ServiceCategory.HEALTH, ServiceCategory.CITIZEN)


@dataclass(frozen=True)
class Spec:
    """One service of the demo directory; `phone` "" gets a local number at random."""

    name: str
    category: str
    needs: tuple[str, ...]
    commune: str
    street: str
    hours: str
    eligibility: str
    description: str
    phone: str = ""
    website: str = ""


OFFICE_HOURS = "Lun–ven 8h30–12h, 13h30–17h"

SPECS: tuple[Spec, ...] = (
    # Public services.
    Spec("CCAS de Villefranche-sur-Gavelle", PUBLIC,
         ("income", "housing", "administrative", "isolation"), "Villefranche-sur-Gavelle",
         "place de l'Hôtel de Ville", OFFICE_HOURS, "Habitants de la commune",
         "Aides facultatives, secours d'urgence, domiciliation, instruction des demandes "
         "de RSA et d'aide sociale légale."),
    Spec("CCAS de Marmont-sur-Lisonne", PUBLIC,
         ("income", "housing", "administrative", "isolation"), "Marmont-sur-Lisonne",
         "rue de la Mairie", OFFICE_HOURS, "Habitants de la commune",
         "Aides facultatives, bons alimentaires, domiciliation, portage de repas."),
    Spec("CCAS de Castelmaure-d'Albret", PUBLIC,
         ("income", "housing", "administrative", "isolation"), "Castelmaure-d'Albret",
         "place du Marché", "Lun, mar, jeu 9h–12h, 14h–17h ; ven 9h–12h",
         "Habitants de la commune", "Aides facultatives, domiciliation, registre canicule."),
    Spec("CAF — accueil de Marmont-sur-Lisonne", PUBLIC, ("income", "family", "housing"),
         "Marmont-sur-Lisonne", "avenue de la Gare",
         "Sur rendez-vous : lun, mar, jeu 9h–16h", "Allocataires et futurs allocataires",
         "Prestations familiales, aides au logement, RSA, prime d'activité ; rendez-vous "
         "sur caf.fr ou au 32 30.", phone="32 30", website="https://www.caf.fr"),
    Spec("CAF — permanence de Villefranche-sur-Gavelle", PUBLIC,
         ("income", "family", "housing"), "Villefranche-sur-Gavelle", "rue Jean Jaurès",
         "Mercredi 9h–12h, sur rendez-vous", "Allocataires et futurs allocataires",
         "Permanence dans les locaux de la Maison France Services.", phone="32 30",
         website="https://www.caf.fr"),
    Spec("CPAM — accueil de Marmont-sur-Lisonne", PUBLIC, ("health", "administrative"),
         "Marmont-sur-Lisonne", "boulevard Pasteur", "Lun–ven 8h30–12h30, après-midi sur "
         "rendez-vous", "Assurés sociaux",
         "Droits à l'Assurance maladie, complémentaire santé solidaire, carte Vitale, "
         "indemnités journalières.", phone="36 46", website="https://www.ameli.fr"),
    Spec("CPAM — permanence de Castelmaure-d'Albret", PUBLIC, ("health", "administrative"),
         "Castelmaure-d'Albret", "rue de la République", "Mardi 9h–12h, sur rendez-vous",
         "Assurés sociaux", "Ouverture de droits, complémentaire santé solidaire.",
         phone="36 46", website="https://www.ameli.fr"),
    Spec("Mission locale de la Gavelle", PUBLIC, ("employment", "mobility", "housing"),
         "Villefranche-sur-Gavelle", "rue Victor Hugo", "Lun–ven 9h–12h30, 13h30–17h30",
         "Jeunes de 16 à 25 ans sortis du système scolaire",
         "Contrat d'engagement jeune, orientation, formation, aide au permis et au "
         "logement.", website="https://www.unml.info"),
    Spec("Mission locale de l'Albret — antenne de Castelmaure", PUBLIC,
         ("employment", "mobility"), "Castelmaure-d'Albret", "allée des Tilleuls",
         "Mar et jeu 9h–17h", "Jeunes de 16 à 25 ans",
         "Accompagnement vers l'emploi et la formation, ateliers CV.",
         website="https://www.unml.info"),
    Spec("France Travail — agence de Marmont-sur-Lisonne", PUBLIC,
         ("employment", "income", "digital"), "Marmont-sur-Lisonne", "rue de l'Industrie",
         "Lun–ven 8h30–12h30 sans rendez-vous, après-midi sur rendez-vous",
         "Demandeurs d'emploi, bénéficiaires du RSA",
         "Inscription, indemnisation, offres d'emploi, accompagnement global avec le "
         "Département.", phone="39 49", website="https://www.francetravail.fr"),
    Spec("France Travail — agence de Villefranche-sur-Gavelle", PUBLIC,
         ("employment", "income", "digital"), "Villefranche-sur-Gavelle", "avenue de Verdun",
         "Lun–ven 8h30–12h30 sans rendez-vous, après-midi sur rendez-vous",
         "Demandeurs d'emploi", "Inscription, indemnisation, ateliers de recherche d'emploi.",
         phone="39 49", website="https://www.francetravail.fr"),
    Spec("France Services de Bourg-Lisonne", PUBLIC, ("administrative", "digital"),
         "Bourg-Lisonne", "place de l'Église", "Lun–ven 9h–12h, mar et jeu 14h–17h",
         "Tout public", "Aide aux démarches CAF, impôts, retraite, ANTS, Assurance maladie ; "
         "postes en libre accès."),
    Spec("France Services de Cazaubon-le-Vieux", PUBLIC, ("administrative", "digital"),
         "Cazaubon-le-Vieux", "rue du Château", "Lun, mer, ven 9h–12h30, 13h30–17h",
         "Tout public", "Démarches administratives en ligne, accompagnement personnalisé."),
    Spec("Point numérique de la médiathèque de Pont-de-Sérane", PUBLIC,
         ("digital", "administrative"), "Pont-de-Sérane", "rue des Écoles",
         "Mer 14h–18h, sam 10h–12h", "Tout public, gratuit",
         "Conseiller numérique : démarches en ligne, messagerie, ateliers smartphone."),
    Spec("Conseiller numérique itinérant — Lamothe-Sérane", PUBLIC, ("digital",),
         "Lamothe-Sérane", "salle polyvalente", "Vendredi 9h–12h", "Tout public, gratuit",
         "Permanence en mairie : créer une adresse e-mail, un compte ameli, faire ses "
         "démarches."),
    Spec("Point d'accès au droit de Marmont-sur-Lisonne", PUBLIC,
         ("administrative", "family", "housing"), "Marmont-sur-Lisonne", "rue du Palais",
         "Mar et jeu 9h–12h sur rendez-vous", "Tout public, gratuit et confidentiel",
         "Consultations gratuites d'avocats, conciliateur de justice, médiation familiale."),
    Spec("CLIC du Territoire Nord", PUBLIC, ("isolation", "health", "mobility"),
         "Villefranche-sur-Gavelle", "rue des Jardins", OFFICE_HOURS,
         "Personnes de 60 ans et plus et leurs proches",
         "Information et coordination gérontologique : maintien à domicile, APA, aides "
         "techniques, entrée en établissement."),
    # Health.
    Spec("PMI — centre de Villefranche-sur-Gavelle", HEALTH, ("health", "family"),
         "Villefranche-sur-Gavelle", "rue Pasteur", "Lun–ven 9h–12h, 13h30–17h",
         "Femmes enceintes, enfants de moins de 6 ans et leurs parents",
         "Consultations de nourrissons, suivi de grossesse, vaccinations, puéricultrice à "
         "domicile."),
    Spec("PMI — centre de Castelmaure-d'Albret", HEALTH, ("health", "family"),
         "Castelmaure-d'Albret", "avenue du Général de Gaulle", "Mar et jeu 9h–17h",
         "Femmes enceintes, enfants de moins de 6 ans et leurs parents",
         "Consultations de nourrissons, bilans de santé en école maternelle."),
    Spec("SSIAD du Pays de Gavelle", HEALTH, ("health", "isolation"),
         "Villefranche-sur-Gavelle", "chemin des Vignes", "7j/7, 7h–20h",
         "Personnes de 60 ans et plus ou en situation de handicap, sur prescription médicale",
         "Soins infirmiers et d'hygiène à domicile."),
    Spec("SSIAD de l'Albret", HEALTH, ("health", "isolation"), "Cazaubon-le-Vieux",
         "route de Castelmaure", "7j/7, 7h–20h",
         "Personnes de 60 ans et plus, sur prescription médicale",
         "Soins infirmiers à domicile, 45 places."),
    Spec("CMP adultes de Marmont-sur-Lisonne", HEALTH, ("health",), "Marmont-sur-Lisonne",
         "rue de l'Hôpital", "Lun–ven 9h–17h", "Adultes, sans avance de frais",
         "Consultations de psychiatrie et de psychologie, infirmiers, visites à domicile."),
    Spec("CMP enfants et adolescents de Villefranche", HEALTH, ("health", "family"),
         "Villefranche-sur-Gavelle", "rue Condorcet", "Lun–ven 9h–17h30",
         "Enfants et adolescents jusqu'à 16 ans",
         "Consultations pédopsychiatriques, orthophonie, psychomotricité."),
    Spec("PASS de l'hôpital de Marmont-sur-Lisonne", HEALTH, ("health", "administrative"),
         "Marmont-sur-Lisonne", "rue de l'Hôpital", "Lun–ven 9h–16h",
         "Personnes sans couverture maladie ou avec des droits incomplets",
         "Permanence d'accès aux soins de santé : consultation, médicaments, ouverture de "
         "droits."),
    # Associations.
    Spec("Restos du Cœur — centre de Villefranche-sur-Gavelle", ASSOCIATION,
         ("income",), "Villefranche-sur-Gavelle", "rue des Tanneurs",
         "Distribution mar et ven 14h–16h30 (campagne d'hiver)",
         "Inscription sur justificatifs de ressources",
         "Aide alimentaire, vestiaire, coiffure solidaire.",
         website="https://www.restosducoeur.org"),
    Spec("Restos du Cœur — centre de Marmont-sur-Lisonne", ASSOCIATION, ("income",),
         "Marmont-sur-Lisonne", "impasse du Moulin", "Distribution lun et jeu 9h–11h30",
         "Inscription sur justificatifs de ressources",
         "Aide alimentaire, accompagnement budgétaire, point info droits.",
         website="https://www.restosducoeur.org"),
    Spec("Secours populaire — comité de Marmont-sur-Lisonne", ASSOCIATION,
         ("income", "family", "isolation"), "Marmont-sur-Lisonne", "rue Lafayette",
         "Mer 14h–17h, sam 9h–12h", "Sur rendez-vous après un premier accueil",
         "Aide alimentaire, vêtements, vacances et sorties familiales.",
         website="https://www.secourspopulaire.fr"),
    Spec("Secours populaire — antenne de Castelmaure-d'Albret", ASSOCIATION,
         ("income", "family"), "Castelmaure-d'Albret", "rue Saint-Jacques", "Jeudi 14h–17h",
         "Tout public en difficulté", "Aide alimentaire et vestimentaire.",
         website="https://www.secourspopulaire.fr"),
    Spec("Secours catholique — accueil de Pont-de-Sérane", ASSOCIATION,
         ("income", "isolation", "administrative"), "Pont-de-Sérane", "rue de l'Abbé Pierre",
         "Mardi 14h–17h", "Tout public",
         "Écoute, aide aux démarches, microcrédit personnel, boutique solidaire."),
    Spec("Épicerie solidaire « Le Panier de la Gavelle »", ASSOCIATION, ("income",),
         "Bourg-Lisonne", "rue du Commerce", "Mer et sam 9h–12h",
         "Sur orientation d'un travailleur social, pour 3 à 6 mois",
         "Produits à 10–30 % de leur prix, ateliers cuisine et budget."),
    Spec("Épicerie solidaire de Cazaubon-le-Vieux", ASSOCIATION, ("income",),
         "Cazaubon-le-Vieux", "place des Halles", "Mar et ven 14h–17h",
         "Sur orientation d'un travailleur social",
         "Produits à petit prix, accompagnement budgétaire."),
    Spec("Banque alimentaire — antenne de Granges-sur-Lisonne", ASSOCIATION, ("income",),
         "Granges-sur-Lisonne", "zone artisanale des Prés", "Lun–ven 8h–12h (partenaires)",
         "Sur orientation : approvisionne CCAS et associations",
         "Collecte et redistribution de denrées aux structures d'aide alimentaire.",
         website="https://www.banquealimentaire.org"),
    Spec("ADIL — permanence de Marmont-sur-Lisonne", ASSOCIATION, ("housing",),
         "Marmont-sur-Lisonne", "rue de la Mairie", "Jeudi 9h–12h, 14h–17h",
         "Locataires, propriétaires, accédants ; gratuit",
         "Conseil juridique et financier sur le logement : impayés de loyer, procédure "
         "d'expulsion, logement indécent, travaux.", website="https://www.anil.org"),
    Spec("CIDFF — permanence de Villefranche-sur-Gavelle", ASSOCIATION,
         ("family", "administrative", "employment"), "Villefranche-sur-Gavelle",
         "rue Jean Jaurès", "Lundi 9h–12h, sur rendez-vous",
         "Femmes et familles ; gratuit et confidentiel",
         "Information juridique (séparation, pension alimentaire), accompagnement des "
         "victimes de violences, insertion professionnelle."),
    Spec("Transport solidaire de la Lisonne", ASSOCIATION, ("mobility", "isolation"),
         "Saint-Martin-de-Lisonne", "place de la Mairie", "Réservation lun–ven 9h–12h",
         "Personnes sans moyen de transport ; participation 0,35 €/km",
         "Chauffeurs bénévoles pour les rendez-vous médicaux, les courses, les démarches."),
    Spec("Plateforme mobilité de l'Albret", ASSOCIATION, ("mobility", "employment"),
         "Cazaubon-le-Vieux", "avenue de la Gare", "Lun–jeu 9h–17h",
         "Demandeurs d'emploi et salariés précaires, sur orientation",
         "Location de scooters et de voitures à petit prix, garage solidaire, code de la "
         "route."),
    # Citizen activities.
    Spec("Jardin partagé des Capucins", CITIZEN, ("isolation", "income"),
         "Villefranche-sur-Gavelle", "rue des Capucins", "Samedi 9h–12h, mercredi 17h–19h",
         "Ouvert à tous", "Parcelles collectives, récoltes partagées, trocs de graines."),
    Spec("Jardin partagé de Labastide-Castelmir", CITIZEN, ("isolation",),
         "Labastide-Castelmir", "chemin du Lavoir", "Mardi et samedi matin", "Ouvert à tous",
         "Potager collectif tenu par les habitants."),
    Spec("Repair café de Pont-de-Sérane", CITIZEN, ("income", "isolation"),
         "Pont-de-Sérane", "salle des fêtes", "1er samedi du mois, 9h30–12h30",
         "Ouvert à tous, gratuit",
         "Des bénévoles réparent avec vous petit électroménager, vélos, vêtements."),
    Spec("Club de marche « Les Godillots »", CITIZEN, ("isolation", "health"),
         "Lamothe-Sérane", "place de l'Église", "Mardi et jeudi, départ 9h",
         "Ouvert à tous, 10 € l'année", "Marches de 5 à 10 km, à allure douce."),
    Spec("Marche nordique des Bruyères", CITIZEN, ("isolation", "health"),
         "Cazaubon-le-Vieux", "stade municipal", "Samedi 9h", "Adultes ; bâtons prêtés",
         "Sorties d'une heure et demie, tous niveaux."),
    Spec("Café des aidants de l'Albret", CITIZEN, ("isolation", "family", "health"),
         "Castelmaure-d'Albret", "café « Le Central », place du Marché",
         "3e jeudi du mois, 14h30–16h30",
         "Proches aidants d'une personne âgée, malade ou handicapée",
         "Rencontres animées par une psychologue et un travailleur social, gratuit."),
    Spec("Atelier cuisine et budget", CITIZEN, ("income", "isolation"),
         "Saint-Martin-de-Lisonne", "centre social, rue des Écoles", "Jeudi 9h30–13h30",
         "Ouvert à tous, 2 € le repas", "Cuisiner de saison à petit prix et manger ensemble."),
    Spec("Voisins solidaires de Granges — équipe citoyenne", CITIZEN, ("isolation",),
         "Granges-sur-Lisonne", "maison des associations",
         "Visites et appels de convivialité toute la semaine",
         "Personnes âgées isolées, sur leur demande ou celle d'un proche",
         "Bénévoles qui rendent visite et téléphonent aux personnes seules."),
    Spec("Ateliers numériques bénévoles de Saint-Aubin", CITIZEN, ("digital",),
         "Saint-Aubin-de-Gavelle", "salle communale", "Lundi 14h–16h",
         "Ouvert à tous, gratuit",
         "Apprendre à se servir d'une tablette et d'un smartphone, à son rythme."),
)

_COMMUNES = {c.name: c for t in demo_names.TERRITORIES for c in t.communes}


def _phone(rng: random.Random) -> str:
    return "05 53 " + " ".join(f"{rng.randint(0, 99):02d}" for _ in range(3))


def _email(spec: Spec, rng: random.Random) -> str:
    if spec.category == CITIZEN or rng.random() < 0.3:
        return ""
    words = [w for w in french.words(spec.name) if w not in french.STOPWORDS]
    return f"accueil@{'-'.join(words[:3])}.services-demo.example"


# Streets of these kinds get a number; "salle des fêtes" or "stade municipal" do not.
_NUMBERED = ("rue", "avenue", "boulevard", "chemin", "allée", "impasse", "route", "place")


@transaction.atomic
def seed_services(organisation: Organisation, rng_seed: int = 7) -> int:
    """Add the demo directory's services that the organisation does not have yet (by name);
    returns how many were added, so that a second run adds none."""
    rng = random.Random(rng_seed)
    existing = set(Service.objects.filter(organisation=organisation)
                   .values_list("name", flat=True))
    new = []
    for spec in SPECS:
        commune = _COMMUNES[spec.commune]
        # Draw for every spec, added or not, so that each service keeps its place and phone.
        centre = dataclasses.replace(commune, radius_km=min(0.6, commune.radius_km / 3))
        latitude, longitude = demo_names.random_point(rng, centre)
        number = rng.randint(1, 40)
        phone = spec.phone or _phone(rng)
        email = _email(spec, rng)
        if spec.name in existing:
            continue
        new.append(Service(
            organisation=organisation, name=spec.name, category=spec.category,
            needs=list(spec.needs), description=spec.description,
            eligibility=spec.eligibility, opening_hours=spec.hours,
            address=(f"{number} {spec.street}" if spec.street.startswith(_NUMBERED)
                     else spec.street),
            postcode=commune.postcode, commune=commune.name, latitude=latitude,
            longitude=longitude, phone=phone, email=email, website=spec.website))
    Service.objects.bulk_create(new)
    return len(new)
