"""A recogniser for the synthetic corpus's grammar: is a token list a sentence of it?

Chapter 9 samples sentences from a language model and counts the grammatical
ones; the tests of :mod:`attn.synthetic` check its output with the same rules.
The recogniser reads a sentence left to right, as a grammar book would, and
judges it by the rules alone: it never calls the generator, and takes from
:mod:`attn.synthetic` only its word lists (nouns with their gender, adjectives
with their four French forms, verbs). Determiners, pronouns, verb endings,
negation and word order are rules written here.

A sentence is clauses joined by ``and``/``but`` (``et``/``mais``), then ``.``;
a clause is a subject (a pronoun, or a noun phrase of a person), a verb
(conjugated for its subject, maybe negated), the noun phrase of a thing, and
maybe a place (``in the garden`` / ``dans le jardin``). The rules, by the name
:func:`why_not` gives them:

* ``empty``, ``vocabulary`` (a word the language's grammar does not have),
  ``end`` (the final ``.``), ``structure`` (a word where the clause has no
  place for it);
* ``word category``: people are subjects, things objects, places places, and
  each kind takes its own adjectives (a tired boy, a broken cup);
* ``determiner agreement``: a/an/this with a singular noun, some/these with a
  plural one; French determiners agree in gender and number (la voiture);
* ``a/an``: "an" before a vowel, "a" before a consonant;
* ``de``: ``des`` becomes ``de`` before an adjective that precedes a plural
  noun (de petits chats), and ``de`` stands for nothing else outside a negation;
* ``negation``: do/does not + base form, ne + verb + pas; under a negation
  "any" replaces "some" and ``de`` replaces un/une/des;
* ``adjective position``: English adjectives precede the noun; French ones
  follow it except the few that precede it (une petite voiture rouge);
* ``adjective agreement``: a French adjective agrees with its noun;
* ``verb agreement``: the verb agrees with its subject (he watches, nous
  regardons);
* ``contraction``: près de + le is près du.

:func:`is_translation` parses both sides into what they say (per clause: the
subject, negation, verb, object and place, each noun phrase as determiner kind,
adjective, noun and number) and asks that the two say the same thing, word for
word; since the grammar allows one French sentence for each English one, that
is the correct translation.

Judging takes about 0.15 s for 10,000 sentences of the default corpus on 2 CPU
cores, and as long for 5,000 pairs with :func:`is_translation`.
"""

from __future__ import annotations

from collections.abc import Sequence

from attn.synthetic import (PEOPLE, PEOPLE_ADJECTIVES, PEOPLE_ADJECTIVES_BEFORE, PLACES, THING_ADJECTIVES,
                            THING_ADJECTIVES_BEFORE, THINGS, VERBS)

__all__ = ["LANGUAGES", "RULES", "is_english", "is_french", "is_translation", "parse_line", "why_not"]

LANGUAGES = ("english", "french")
RULES = ("empty", "vocabulary", "end", "structure", "word category", "determiner agreement", "a/an",
         "de", "negation", "adjective position", "adjective agreement", "verb agreement",
         "contraction")
SEPARATOR = "="  # between the English and the French of a line (as attn.lm writes them)
SLOTS = (("m", "sg"), ("f", "sg"), ("m", "pl"), ("f", "pl"))  # order of the French adjective forms

# Function words: the rules of the grammar, written here.
EN_PRONOUNS = {"i": "1s", "you": "2p", "he": "3s", "she": "3s", "we": "1p", "they": "3p"}
FR_PRONOUNS = {"je": "1s", "vous": "2p", "il": "3s", "elle": "3s", "nous": "1p", "ils": "3p"}
PRONOUN_TRANSLATION = {"i": "je", "you": "vous", "he": "il", "she": "elle", "we": "nous", "they": "ils"}
FR_ENDINGS = {"1s": "e", "2p": "ez", "3s": "e", "1p": "ons", "3p": "ent"}
# English determiner -> (kind, numbers it goes with). "any" only under a negation, "some" never.
EN_DETERMINERS = {"the": ("def", {"sg", "pl"}), "a": ("indef", {"sg"}), "an": ("indef", {"sg"}),
                  "my": ("poss", {"sg", "pl"}), "this": ("demo", {"sg"}), "these": ("demo", {"pl"}),
                  "some": ("indef", {"pl"}), "any": ("indef", {"pl"})}
# French determiner -> (kind, the (gender, number) it goes with); "de" has its own rules.
_ALL = set(SLOTS)
FR_DETERMINERS = {
    "le": ("def", {("m", "sg")}), "la": ("def", {("f", "sg")}), "les": ("def", {("m", "pl"), ("f", "pl")}),
    "un": ("indef", {("m", "sg")}), "une": ("indef", {("f", "sg")}),
    "des": ("indef", {("m", "pl"), ("f", "pl")}), "de": ("indef", _ALL),
    "mon": ("poss", {("m", "sg")}), "ma": ("poss", {("f", "sg")}), "mes": ("poss", {("m", "pl"), ("f", "pl")}),
    "ce": ("demo", {("m", "sg")}), "cette": ("demo", {("f", "sg")}), "ces": ("demo", {("m", "pl"), ("f", "pl")}),
}
EN_PREPOSITIONS = {"in": "in", "behind": "behind", "near": "near"}
FR_PREPOSITIONS = {"dans": "in", "derrière": "behind", "près": "near"}
CONJUNCTIONS = {"english": {"and": "and", "but": "but"}, "french": {"et": "and", "mais": "but"}}

# The lexicon, from the corpus's word lists. Nouns: form -> (english singular, kind, gender, number).
EN_NOUNS, FR_NOUNS = {}, {}
for _kind, _table in (("person", PEOPLE), ("thing", THINGS)):
    for _en, _en_pl, _fr, _fr_pl, _gender in _table:
        EN_NOUNS[_en], EN_NOUNS[_en_pl] = (_en, _kind, None, "sg"), (_en, _kind, None, "pl")
        FR_NOUNS[_fr], FR_NOUNS[_fr_pl] = (_en, _kind, _gender, "sg"), (_en, _kind, _gender, "pl")
for _en, _fr, _gender in PLACES:
    EN_NOUNS[_en], FR_NOUNS[_fr] = (_en, "place", None, "sg"), (_en, "place", _gender, "sg")
# Adjectives: english -> {(kind, side)}; french form -> {(kind, side, slot, english)}.
EN_ADJECTIVES: dict[str, set] = {}
FR_ADJECTIVES: dict[str, set] = {}
for _kind, _side, _table in (("thing", "after", THING_ADJECTIVES), ("person", "after", PEOPLE_ADJECTIVES),
                             ("thing", "before", THING_ADJECTIVES_BEFORE),
                             ("person", "before", PEOPLE_ADJECTIVES_BEFORE)):
    for _en, *_forms in _table:
        EN_ADJECTIVES.setdefault(_en, set()).add((_kind, _side))
        for _slot, _form in zip(SLOTS, _forms):
            FR_ADJECTIVES.setdefault(_form, set()).add((_kind, _side, _slot, _en))
# Verbs: English forms as token tuples -> (english base, third person singular?); French forms.
EN_VERBS, FR_VERBS = {}, {}
for _base, _third, _infinitive in VERBS:
    EN_VERBS[tuple(_base.split())] = (_base, False)
    EN_VERBS[tuple(_third.split())] = (_base, True)
    for _person, _ending in FR_ENDINGS.items():
        FR_VERBS[_infinitive[:-2] + _ending] = (_base, _ending)

VOCABULARY = {
    "english": (set(EN_PRONOUNS) | set(EN_DETERMINERS) | set(EN_PREPOSITIONS) | set(CONJUNCTIONS["english"])
                | set(EN_NOUNS) | set(EN_ADJECTIVES) | {t for form in EN_VERBS for t in form}
                | {"do", "does", "not", "."}),
    "french": (set(FR_PRONOUNS) | set(FR_DETERMINERS) | set(FR_PREPOSITIONS) | set(CONJUNCTIONS["french"])
               | set(FR_NOUNS) | set(FR_ADJECTIVES) | set(FR_VERBS) | {"du", "ne", "pas", "."}),
}


class _Reject(Exception):
    def __init__(self, rule: str, detail: str):
        super().__init__(f"{rule}: {detail}")


def _check_tokens(name: str, tokens) -> list[str]:
    if isinstance(tokens, str):
        raise TypeError(f"{name} must be a list of str tokens, got a str ({tokens[:30]!r}); use str.split()")
    if not isinstance(tokens, Sequence) or isinstance(tokens, (bytes, bytearray)):
        raise TypeError(f"{name} must be a list of str tokens, got {type(tokens).__name__}")
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError(f"{name} must hold str tokens, got a {type(token).__name__} at index {i}")
    return list(tokens)


def _check_language(language) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"language must be 'english' or 'french', got {language!r}")
    return language


class _Reader:
    """The tokens of one sentence and a position in them."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.i = tokens, 0

    def peek(self, ahead: int = 0) -> str:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else "<end>"

    def take(self) -> str:
        token = self.peek()
        self.i += 1
        return token

    def expect(self, what: str, allowed) -> str:
        token = self.peek()
        if token not in allowed:
            raise _Reject("structure", f"expected {what} at position {self.i}, got {token!r}")
        return self.take()


def _en_noun_phrase(r: _Reader, kind: str, negated: bool = False) -> tuple:
    """det [adjective] noun -> (determiner kind, adjective, noun, number)."""
    det = r.expect("a determiner", EN_DETERMINERS)
    adjective = r.take() if r.peek() in EN_ADJECTIVES else None
    noun = r.expect("a noun", EN_NOUNS)
    if r.peek() in EN_ADJECTIVES:
        raise _Reject("adjective position", f"English adjectives precede the noun: {r.peek()!r}")
    lemma, noun_kind, _, number = EN_NOUNS[noun]
    if noun_kind != kind:
        raise _Reject("word category", f"{noun!r} is a {noun_kind}, where the clause needs a {kind}")
    if adjective and (kind, "after") not in EN_ADJECTIVES[adjective] \
            and (kind, "before") not in EN_ADJECTIVES[adjective]:
        raise _Reject("word category", f"{adjective!r} does not describe a {kind} in this grammar")
    det_kind, numbers = EN_DETERMINERS[det]
    if number not in numbers:
        raise _Reject("determiner agreement", f"{det!r} does not go with the {number} noun {noun!r}")
    if det in ("a", "an"):
        vowel = (adjective or noun)[0] in "aeiou"
        if vowel != (det == "an"):
            raise _Reject("a/an", f"{det!r} before {(adjective or noun)!r}")
    if det == "any" and not negated:
        raise _Reject("negation", "'any' stands for 'some' only under a negation")
    if det == "some" and negated:
        raise _Reject("negation", "under a negation 'some' becomes 'any'")
    return det_kind, adjective, lemma, number


def _fr_noun_phrase(r: _Reader, kind: str, negated: bool = False) -> tuple:
    """det [adjective before] noun [adjective after] -> (determiner kind, adjective, noun, number)."""
    det = r.expect("a determiner", FR_DETERMINERS)
    pre = r.take() if r.peek() in FR_ADJECTIVES else None
    noun = r.expect("a noun", FR_NOUNS)
    post = r.take() if r.peek() in FR_ADJECTIVES else None
    lemma, noun_kind, gender, number = FR_NOUNS[noun]
    if noun_kind != kind:
        raise _Reject("word category", f"{noun!r} is a {noun_kind}, where the clause needs a {kind}")
    slot = (gender, number)
    if pre and post:
        raise _Reject("structure", f"one adjective per noun, got {pre!r} and {post!r}")
    adjective = None
    for form, side in ((pre, "before"), (post, "after")):
        if form is None:
            continue
        readings = FR_ADJECTIVES[form]
        if not any(k == kind for k, _, _, _ in readings):
            raise _Reject("word category", f"{form!r} does not describe a {kind} in this grammar")
        if not any(k == kind and s == side for k, s, _, _ in readings):
            where = "precedes" if side == "after" else "follows"
            raise _Reject("adjective position", f"{form!r} {where} the noun {noun!r}")
        matches = [en for k, s, sl, en in readings if (k, s, sl) == (kind, side, slot)]
        if not matches:
            raise _Reject("adjective agreement", f"{form!r} does not agree with {noun!r} "
                                                 f"({'masculine' if gender == 'm' else 'feminine'} {number})")
        adjective = matches[0]
    det_kind, agrees = FR_DETERMINERS[det]
    if negated and det in ("un", "une", "des"):
        raise _Reject("negation", f"after ne ... pas, {det!r} becomes 'de'")
    if det == "des" and pre and number == "pl":
        raise _Reject("de", f"'des' becomes 'de' before the adjective {pre!r}")
    if det == "de" and not negated and not (pre and number == "pl"):
        raise _Reject("de", "outside a negation 'de' only stands for 'des' before a plural adjective")
    if slot not in agrees:
        raise _Reject("determiner agreement", f"{det!r} does not agree with {noun!r} "
                                              f"({'masculine' if gender == 'm' else 'feminine'} {number})")
    return det_kind, adjective, lemma, number


def _en_clause(r: _Reader) -> tuple:
    if r.peek() in EN_PRONOUNS:
        subject = PRONOUN_TRANSLATION[r.peek()]
        person = EN_PRONOUNS[r.take()]
    else:
        subject = _en_noun_phrase(r, "person")
        person = "3s" if subject[3] == "sg" else "3p"
    negated = r.peek() in ("do", "does")
    if negated:
        auxiliary = r.take()
        if (auxiliary == "does") != (person == "3s"):
            raise _Reject("verb agreement", f"{auxiliary!r} does not agree with its subject")
        r.expect("'not'", {"not"})
    verb = next((form for form in EN_VERBS if tuple(r.tokens[r.i:r.i + len(form)]) == form), None)
    if verb is None:
        raise _Reject("structure", f"expected a verb at position {r.i}, got {r.peek()!r}")
    r.i += len(verb)
    base, third = EN_VERBS[verb]
    if negated and third:
        raise _Reject("negation", f"after 'not' the verb takes its base form, not {' '.join(verb)!r}")
    if not negated and third != (person == "3s"):
        raise _Reject("verb agreement", f"{' '.join(verb)!r} does not agree with its subject")
    obj = _en_noun_phrase(r, "thing", negated)
    place = None
    if r.peek() in EN_PREPOSITIONS:
        preposition = EN_PREPOSITIONS[r.take()]
        r.expect("'the' before a place", {"the"})
        noun = r.expect("a place", EN_NOUNS)
        if EN_NOUNS[noun][1] != "place":
            raise _Reject("word category", f"{noun!r} is not a place")
        place = (preposition, noun)
    return subject, negated, base, obj, place


def _fr_clause(r: _Reader) -> tuple:
    if r.peek() in FR_PRONOUNS:
        subject = r.peek()
        person = FR_PRONOUNS[r.take()]
    else:
        subject = _fr_noun_phrase(r, "person")
        person = "3s" if subject[3] == "sg" else "3p"
    negated = r.peek() == "ne"
    r.i += negated
    verb = r.expect("a verb", FR_VERBS)
    base, ending = FR_VERBS[verb]
    if ending != FR_ENDINGS[person]:
        raise _Reject("verb agreement", f"{verb!r} does not agree with its subject")
    if negated and r.peek() != "pas":
        raise _Reject("negation", f"ne {verb} is followed by 'pas', got {r.peek()!r}")
    if not negated and r.peek() == "pas":
        raise _Reject("negation", f"'pas' without 'ne' before {verb!r}")
    r.i += negated
    obj = _fr_noun_phrase(r, "thing", negated)
    place = None
    if r.peek() in FR_PREPOSITIONS:
        preposition = FR_PREPOSITIONS[r.take()]
        if preposition == "near":
            if r.peek() == "du":
                r.take()
                article = "le"
            else:
                r.expect("'de' after 'près'", {"de"})
                article = r.expect("'la' before a place", {"la", "le"})
                if article == "le":
                    raise _Reject("contraction", "près de le contracts to près du")
        else:
            article = r.expect("'le' or 'la' before a place", {"le", "la"})
        noun = r.expect("a place", FR_NOUNS)
        if FR_NOUNS[noun][1] != "place":
            raise _Reject("word category", f"{noun!r} is not a place")
        if FR_DETERMINERS[article][1] != {(FR_NOUNS[noun][2], "sg")}:
            raise _Reject("determiner agreement", f"{article!r} does not agree with {noun!r}")
        place = (preposition, FR_NOUNS[noun][0])
    return subject, negated, base, obj, place


def _parse(tokens: list[str], language: str) -> tuple:
    """What the sentence says: (conjunctions, clauses); raises _Reject with the first rule broken."""
    if not tokens:
        raise _Reject("empty", "a sentence has at least one clause and a '.'")
    vocabulary = VOCABULARY[language]
    for token in tokens:
        if token not in vocabulary:
            other = "french" if language == "english" else "english"
            note = f" (it is {other.capitalize()})" if token in VOCABULARY[other] else ""
            raise _Reject("vocabulary", f"{token!r} is not a word of the {language} grammar{note}")
    if tokens[-1] != "." or "." in tokens[:-1]:
        raise _Reject("end", "a sentence ends with one '.', and only there")
    r = _Reader(tokens[:-1])
    clause = _en_clause if language == "english" else _fr_clause
    conjunctions, clauses = [], [clause(r)]
    while r.peek() in CONJUNCTIONS[language]:
        conjunctions.append(CONJUNCTIONS[language][r.take()])
        clauses.append(clause(r))
    if r.peek() != "<end>":
        what = "adjective position" if r.peek() in FR_ADJECTIVES and language == "french" else "structure"
        raise _Reject(what, f"{r.peek()!r} at position {r.i} has no place in the clause")
    return tuple(conjunctions), tuple(clauses)


def why_not(tokens: Sequence[str], language: str) -> str | None:
    """None for a sentence of the grammar, else ``"<rule>: <what is wrong>"`` for the first rule broken.

    Args:
        tokens: one sentence, a list of str tokens ending in ``"."``.
        language: ``"english"`` or ``"french"``.

    Returns:
        None, or a message that starts with one of :data:`RULES`.
    """
    tokens = _check_tokens("tokens", tokens)
    try:
        _parse(tokens, _check_language(language))
    except _Reject as e:
        return str(e)
    return None


def is_english(tokens: Sequence[str]) -> bool:
    """Whether ``tokens`` is an English sentence of the corpus's grammar."""
    return why_not(tokens, "english") is None


def is_french(tokens: Sequence[str]) -> bool:
    """Whether ``tokens`` is a French sentence of the corpus's grammar."""
    return why_not(tokens, "french") is None


def is_translation(english: Sequence[str], french: Sequence[str]) -> bool:
    """Whether ``french`` is the correct translation of ``english``.

    Both must be sentences of the grammar, and say the same thing clause by
    clause: the same conjunctions, subject, negation, verb, place, and noun
    phrases with the same kind of determiner, adjective, noun and number.
    """
    english, french = _check_tokens("english", english), _check_tokens("french", french)
    try:
        return _parse(english, "english") == _parse(french, "french")
    except _Reject:
        return False


def parse_line(tokens: Sequence[str]) -> tuple[list[str], list[str]] | None:
    """Split an ``english = french`` line at its separator.

    Returns:
        ``(english, french)`` token lists, or None when the line does not hold exactly one ``"="``
        (a sampled line may hold anything).
    """
    tokens = _check_tokens("tokens", tokens)
    if tokens.count(SEPARATOR) != 1:
        return None
    at = tokens.index(SEPARATOR)
    return tokens[:at], tokens[at + 1:]
