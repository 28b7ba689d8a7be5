"""A synthetic English-French corpus from a small grammar, deterministic from a seed.

The French is correct French and has what makes attention necessary and
visible:

* adjectives on both sides of the noun: most follow it (the red car / la voiture
  rouge), a few precede it as in English (the small car / la petite voiture);
* agreement of determiners and adjectives with the noun in gender and number
  (les belles robes), with formal French's ``de`` for ``des`` before a plural
  adjective that precedes the noun (some small cats / de petits chats);
* verbs conjugated by subject, and negation ``ne ... pas`` around the verb, after
  which the indefinite articles ``un/une/des`` become ``de`` (I do not pull a
  bag / je ne tire pas de sac; we do not watch any dogs / nous ne regardons pas
  de chiens);
* ``près de`` contracting to ``près du``, "a" becoming "an" before a vowel, and
  clauses joined by "and"/"but" for long sentences.

Every French noun, adjective that precedes a noun, and verb starts with a
consonant, so no elision (l', d', bel, vieil, cet) ever arises. The grammar
produces 170 English and 262 French word forms (the final "." included).
:func:`synthetic_splits` returns train/valid/test pairs with no English sentence
in two splits.

To find parts of speech in English token lists, use :data:`ADJECTIVES_AFTER`
and :data:`ADJECTIVES_BEFORE` (English adjectives whose French form follows or
precedes the noun) and :data:`ENGLISH_NOUNS`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

Pair = tuple[list[str], list[str]]

# Nouns: (english, english plural, french, french plural, gender).
PEOPLE = [
    ("boy", "boys", "garçon", "garçons", "m"), ("girl", "girls", "fille", "filles", "f"),
    ("woman", "women", "femme", "femmes", "f"), ("teacher", "teachers", "professeur", "professeurs", "m"),
    ("doctor", "doctors", "médecin", "médecins", "m"), ("cook", "cooks", "cuisinier", "cuisiniers", "m"),
    ("neighbour", "neighbours", "voisine", "voisines", "f"), ("king", "kings", "roi", "rois", "m"),
    ("queen", "queens", "reine", "reines", "f"), ("sister", "sisters", "sœur", "sœurs", "f"),
    ("brother", "brothers", "frère", "frères", "m"), ("farmer", "farmers", "fermier", "fermiers", "m"),
]
THINGS = [
    ("dog", "dogs", "chien", "chiens", "m"), ("cat", "cats", "chat", "chats", "m"),
    ("book", "books", "livre", "livres", "m"), ("pen", "pens", "stylo", "stylos", "m"),
    ("bike", "bikes", "vélo", "vélos", "m"), ("boat", "boats", "bateau", "bateaux", "m"),
    ("truck", "trucks", "camion", "camions", "m"), ("cake", "cakes", "gâteau", "gâteaux", "m"),
    ("hat", "hats", "chapeau", "chapeaux", "m"), ("coat", "coats", "manteau", "manteaux", "m"),
    ("bag", "bags", "sac", "sacs", "m"), ("glass", "glasses", "verre", "verres", "m"),
    ("knife", "knives", "couteau", "couteaux", "m"), ("horse", "horses", "cheval", "chevaux", "m"),
    ("car", "cars", "voiture", "voitures", "f"), ("house", "houses", "maison", "maisons", "f"),
    ("table", "tables", "table", "tables", "f"), ("chair", "chairs", "chaise", "chaises", "f"),
    ("flower", "flowers", "fleur", "fleurs", "f"), ("apple", "apples", "pomme", "pommes", "f"),
    ("letter", "letters", "lettre", "lettres", "f"), ("dress", "dresses", "robe", "robes", "f"),
    ("box", "boxes", "boîte", "boîtes", "f"), ("lamp", "lamps", "lampe", "lampes", "f"),
    ("cup", "cups", "tasse", "tasses", "f"), ("shirt", "shirts", "chemise", "chemises", "f"),
    ("key", "keys", "clé", "clés", "f"), ("bottle", "bottles", "bouteille", "bouteilles", "f"),
]
PLACES = [  # singular only, always with "the"
    ("garden", "jardin", "m"), ("kitchen", "cuisine", "f"), ("park", "parc", "m"), ("street", "rue", "f"),
    ("station", "gare", "f"), ("market", "marché", "m"), ("forest", "forêt", "f"), ("office", "bureau", "m"),
]
# Adjectives: (english, m. sg., f. sg., m. pl., f. pl.). These follow the noun in French.
THING_ADJECTIVES = [
    ("red", "rouge", "rouge", "rouges", "rouges"), ("blue", "bleu", "bleue", "bleus", "bleues"),
    ("green", "vert", "verte", "verts", "vertes"), ("black", "noir", "noire", "noirs", "noires"),
    ("white", "blanc", "blanche", "blancs", "blanches"), ("yellow", "jaune", "jaune", "jaunes", "jaunes"),
    ("grey", "gris", "grise", "gris", "grises"), ("round", "rond", "ronde", "ronds", "rondes"),
    ("heavy", "lourd", "lourde", "lourds", "lourdes"), ("broken", "cassé", "cassée", "cassés", "cassées"),
    ("dirty", "sale", "sale", "sales", "sales"), ("expensive", "cher", "chère", "chers", "chères"),
    ("empty", "vide", "vide", "vides", "vides"), ("new", "neuf", "neuve", "neufs", "neuves"),
]
PEOPLE_ADJECTIVES = [
    ("happy", "heureux", "heureuse", "heureux", "heureuses"), ("tired", "fatigué", "fatiguée", "fatigués", "fatiguées"),
    ("french", "français", "française", "français", "françaises"), ("sick", "malade", "malade", "malades", "malades"),
    ("rich", "riche", "riche", "riches", "riches"), ("polite", "poli", "polie", "polis", "polies"),
]
# A few short, common adjectives precede the noun in French, as in English. Grand is "big" for
# things but "tall" for people, and jeune only describes people.
THING_ADJECTIVES_BEFORE = [
    ("small", "petit", "petite", "petits", "petites"), ("big", "grand", "grande", "grands", "grandes"),
    ("beautiful", "beau", "belle", "beaux", "belles"), ("old", "vieux", "vieille", "vieux", "vieilles"),
]
PEOPLE_ADJECTIVES_BEFORE = [
    ("small", "petit", "petite", "petits", "petites"), ("tall", "grand", "grande", "grands", "grandes"),
    ("beautiful", "beau", "belle", "beaux", "belles"), ("old", "vieux", "vieille", "vieux", "vieilles"),
    ("young", "jeune", "jeune", "jeunes", "jeunes"),
]
# The documented way to find adjectives and nouns in English token lists.
ADJECTIVES_AFTER = frozenset(adj[0] for adj in THING_ADJECTIVES + PEOPLE_ADJECTIVES)
ADJECTIVES_BEFORE = frozenset(adj[0] for adj in THING_ADJECTIVES_BEFORE + PEOPLE_ADJECTIVES_BEFORE)
ENGLISH_NOUNS = frozenset([n[0] for n in PEOPLE + THINGS] + [n[1] for n in PEOPLE + THINGS]
                          + [place[0] for place in PLACES])
# Chance that an adjective is one of those French puts before the noun: there are only a few,
# so picking among all adjectives alike would make that word order rare.
P_BEFORE = 0.4
# Regular -er verbs starting with a consonant (no elision): (english, english 3rd sg., infinitive).
VERBS = [
    ("watch", "watches", "regarder"), ("look for", "looks for", "chercher"), ("find", "finds", "trouver"),
    ("carry", "carries", "porter"), ("wash", "washes", "laver"), ("prepare", "prepares", "préparer"),
    ("draw", "draws", "dessiner"), ("keep", "keeps", "garder"), ("hide", "hides", "cacher"),
    ("push", "pushes", "pousser"), ("pull", "pulls", "tirer"), ("touch", "touches", "toucher"),
    ("repair", "repairs", "réparer"), ("steal", "steals", "voler"), ("show", "shows", "montrer"),
    ("break", "breaks", "casser"),
]
# Subject pronouns: (english, french, person) with person in 1s, 2p, 3s, 1p, 3p.
PRONOUNS = [("i", "je", "1s"), ("you", "vous", "2p"), ("he", "il", "3s"), ("she", "elle", "3s"),
            ("we", "nous", "1p"), ("they", "ils", "3p")]
ENDINGS = {"1s": "e", "2s": "es", "3s": "e", "1p": "ons", "2p": "ez", "3p": "ent"}
# Determiners by number: (english, french masculine, french feminine).
DETERMINERS = {
    "sg": [("the", "le", "la"), ("a", "un", "une"), ("my", "mon", "ma"), ("this", "ce", "cette")],
    "pl": [("the", "les", "les"), ("some", "des", "des"), ("my", "mes", "mes"), ("these", "ces", "ces")],
}
PREPOSITIONS = [("in", ["dans"]), ("behind", ["derrière"]), ("near", ["près", "de"])]
CONJUNCTIONS = [("and", "et"), ("but", "mais")]


@dataclass
class SyntheticConfig:
    """How many synthetic pairs to make, and how long they may get."""

    seed: int = 0             # the same seed gives the same corpus and the same splits
    num_train: int = 20_000   # training pairs
    num_valid: int = 500      # validation pairs
    num_test: int = 1_000     # held-out test pairs (no English sentence of them is in train)
    max_clauses: int = 3      # clauses joined by "and"/"but"; more clauses, longer sentences
    max_len: int = 30         # longest English sentence in tokens, the final "." included
    p_negation: float = 0.3   # chance that a clause is negated (do not / ne ... pas)
    p_adjective: float = 0.6  # chance that an object noun has an adjective
    p_place: float = 0.3      # chance that a clause ends with a place ("in the garden")


def _noun_phrase(noun, number: str, determiner, adjective=None, negated: bool = False) -> Pair:
    """English and French tokens of one noun phrase whose words are already chosen.

    ``noun``, ``determiner`` and ``adjective`` are rows of the tables above (``adjective`` may be
    None), ``number`` is "sg" or "pl", and ``negated`` says the phrase is the object of a verb
    under ``not`` / ``ne ... pas``.
    """
    en, en_pl, fr, fr_pl, gender = noun
    plural = number == "pl"
    det_en, det_m, det_f = determiner
    det_fr = det_f if gender == "f" else det_m
    before = adjective is not None and adjective[0] in ADJECTIVES_BEFORE
    if negated and det_en in ("a", "some"):
        # After a negation French has no indefinite article, only "de"; English says "any" for "some".
        det_fr = "de"
        det_en = "any" if det_en == "some" else det_en
    elif det_fr == "des" and before and plural:
        det_fr = "de"  # formal French: de petits chats, de belles robes
    english = [det_en, adjective[0]] if adjective else [det_en]
    english.append(en_pl if plural else en)
    if det_en == "a" and english[1][0] in "aeiou":
        english[0] = "an"  # every English word here sounds the way its first letter looks
    french = [det_fr, fr_pl if plural else fr]
    if adjective:
        form = adjective[1 + (gender == "f") + 2 * plural]  # agrees in gender and number
        french.insert(1 if before else 2, form)
    return english, french


def _random_noun_phrase(rng: random.Random, nouns, after, before, p_adjective: float,
                        negated: bool = False):
    """A random noun phrase from ``nouns`` with maybe one adjective, and its number."""
    noun = rng.choice(nouns)
    number = rng.choice(("sg", "pl"))
    determiner = rng.choice(DETERMINERS[number])
    adjective = None
    if rng.random() < p_adjective:
        adjective = rng.choice(before if rng.random() < P_BEFORE else after)
    english, french = _noun_phrase(noun, number, determiner, adjective, negated)
    return english, french, number


def _clause(rng: random.Random, config: SyntheticConfig) -> Pair:
    """One 'subject verb object [place]' clause, maybe negated."""
    if rng.random() < 0.5:
        subj_en, subj_fr, person = rng.choice(PRONOUNS)
        subj_en, subj_fr = [subj_en], [subj_fr]
    else:
        subj_en, subj_fr, number = _random_noun_phrase(rng, PEOPLE, PEOPLE_ADJECTIVES,
                                                       PEOPLE_ADJECTIVES_BEFORE, 0.3)
        person = "3s" if number == "sg" else "3p"
    verb_en, verb_en3, infinitive = rng.choice(VERBS)
    verb_fr = infinitive[:-2] + ENDINGS[person]
    english, french = subj_en, subj_fr
    negated = rng.random() < config.p_negation
    if negated:
        english += ["does" if person == "3s" else "do", "not", *verb_en.split()]
        french += ["ne", verb_fr, "pas"]
    else:
        english += (verb_en3 if person == "3s" else verb_en).split()
        french.append(verb_fr)
    obj_en, obj_fr, _ = _random_noun_phrase(rng, THINGS, THING_ADJECTIVES, THING_ADJECTIVES_BEFORE,
                                            config.p_adjective, negated)
    english += obj_en
    french += obj_fr
    if rng.random() < config.p_place:
        prep_en, prep_fr = rng.choice(PREPOSITIONS)
        place_en, place_fr, gender = rng.choice(PLACES)
        article = "le" if gender == "m" else "la"
        if prep_fr[-1] == "de" and article == "le":  # de + le -> du
            prep_fr, article = prep_fr[:-1], "du"
        english += [prep_en, "the", place_en]
        french += [*prep_fr, article, place_fr]
    return english, french


def synthetic_pair(rng: random.Random, config: SyntheticConfig) -> Pair:
    """One English-French pair of 1 to ``config.max_clauses`` clauses, ending in '.'.

    Args:
        rng: the source of randomness; the same state gives the same pair.
        config: sentence shape (``max_clauses``, ``max_len``, ``p_*``); the sizes are unused.

    Returns:
        ``(english, french)``: two token lists, of lengths L (at most ``config.max_len``) and T.
    """
    while True:
        num_clauses = rng.randint(1, config.max_clauses)
        english, french = _clause(rng, config)
        for _ in range(num_clauses - 1):
            conj_en, conj_fr = rng.choice(CONJUNCTIONS)
            more_en, more_fr = _clause(rng, config)
            english += [conj_en, *more_en]
            french += [conj_fr, *more_fr]
        if len(english) + 1 <= config.max_len:
            return english + ["."], french + ["."]


@dataclass
class Splits:
    """Sentence pairs for training, validation and testing."""

    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]
    dropped: int = 0  # pairs left out of all three (see attn.data.split_pairs)


def synthetic_splits(config: SyntheticConfig | None = None) -> Splits:
    """Generate distinct pairs from the grammar and split them three ways.

    Every English sentence occurs once in the whole corpus, so no test (or
    validation) sentence appears in the training split. The same config gives
    the same splits on every machine.

    Args:
        config: sizes, seed and sentence shape; None means ``SyntheticConfig()``.

    Returns:
        :class:`Splits` of ``config.num_train``, ``num_valid`` and ``num_test`` pairs
        ``(english, french)`` of token lists, of lengths L and T.

    Raises:
        ValueError: on a negative size, ``max_clauses < 1``, ``max_len < 5``, or more pairs
            asked for than the grammar can make distinct.
    """
    config = config or SyntheticConfig()
    for name in ("num_train", "num_valid", "num_test"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(config, name)}")
    if config.max_clauses < 1 or config.max_len < 5:
        raise ValueError(f"need max_clauses >= 1 and max_len >= 5, got {config.max_clauses} and {config.max_len}")
    rng = random.Random(config.seed)
    total = config.num_train + config.num_valid + config.num_test
    seen: set[tuple[str, ...]] = set()
    pairs: list[Pair] = []
    attempts = 0
    while len(pairs) < total:
        attempts += 1
        if attempts > 20 * total + 1000:
            raise ValueError(f"the grammar cannot produce {total} distinct sentences with this config")
        english, french = synthetic_pair(rng, config)
        if tuple(english) not in seen:
            seen.add(tuple(english))
            pairs.append((english, french))
    test = pairs[:config.num_test]
    valid = pairs[config.num_test:config.num_test + config.num_valid]
    return Splits(train=pairs[config.num_test + config.num_valid:], valid=valid, test=test)
