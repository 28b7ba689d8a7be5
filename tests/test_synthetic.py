"""Tests of attn.synthetic: the grammar's English and French, checked on thousands of generated pairs.

The checks parse the generated token lists with rules written here (determiners, endings, word
order), independently of how the generator builds its sentences; only the word lists come from
the module's lexicon tables. The same rules, as the recogniser the book uses to judge sampled
sentences (attn.grammar), must accept every generated sentence and pair too: two readings of
the grammar that agree on thousands of pairs.
"""

import re
import time

import pytest

from attn import grammar, synthetic
from attn.synthetic import SyntheticConfig, synthetic_splits

SEEDS = (0, 1, 2)
CONJUNCTIONS = {"and", "but", "et", "mais"}
ENGLISH_DETERMINERS = {"the", "a", "an", "my", "this", "these", "some", "any"}
# French determiner of an English one, by gender and number, before any rule changes it.
FRENCH_DETERMINER = {
    ("the", "m", "sg"): "le", ("the", "f", "sg"): "la", ("the", "m", "pl"): "les", ("the", "f", "pl"): "les",
    ("a", "m", "sg"): "un", ("a", "f", "sg"): "une", ("an", "m", "sg"): "un", ("an", "f", "sg"): "une",
    ("my", "m", "sg"): "mon", ("my", "f", "sg"): "ma", ("my", "m", "pl"): "mes", ("my", "f", "pl"): "mes",
    ("this", "m", "sg"): "ce", ("this", "f", "sg"): "cette", ("these", "m", "pl"): "ces", ("these", "f", "pl"): "ces",
    ("some", "m", "pl"): "des", ("some", "f", "pl"): "des", ("any", "m", "pl"): "des", ("any", "f", "pl"): "des",
}
# Which (gender, number) each French determiner can go with.
DETERMINER_AGREES = {
    "le": {("m", "sg")}, "la": {("f", "sg")}, "un": {("m", "sg")}, "une": {("f", "sg")},
    "mon": {("m", "sg")}, "ma": {("f", "sg")}, "ce": {("m", "sg")}, "cette": {("f", "sg")}, "du": {("m", "sg")},
    "les": {("m", "pl"), ("f", "pl")}, "des": {("m", "pl"), ("f", "pl")}, "mes": {("m", "pl"), ("f", "pl")},
    "ces": {("m", "pl"), ("f", "pl")}, "de": {("m", "sg"), ("f", "sg"), ("m", "pl"), ("f", "pl")},
}
AFTER_NEGATION = {"de", "le", "la", "les", "mon", "ma", "mes", "ce", "cette", "ces"}
# French verb ending by subject pronoun; a noun subject takes -e (singular) or -ent (plural).
PRONOUN_ENDING = {"je": "e", "vous": "ez", "il": "e", "elle": "e", "nous": "ons", "ils": "ent"}
SLOTS = {("m", "sg"): 0, ("f", "sg"): 1, ("m", "pl"): 2, ("f", "pl"): 3}


def _lexicon():
    """Lookup tables built from the module's word lists."""
    french_nouns, english_nouns = {}, {}  # form -> (gender, number) / (french form, gender, number)
    for en, en_pl, fr, fr_pl, gender in synthetic.PEOPLE + synthetic.THINGS:
        french_nouns[fr], french_nouns[fr_pl] = (gender, "sg"), (gender, "pl")
        english_nouns[en], english_nouns[en_pl] = (fr, gender, "sg"), (fr_pl, gender, "pl")
    for en, fr, gender in synthetic.PLACES:
        french_nouns[fr], english_nouns[en] = (gender, "sg"), (fr, gender, "sg")
    adjectives = {}  # english -> (french forms m. sg., f. sg., m. pl., f. pl.)
    for table in (synthetic.THING_ADJECTIVES, synthetic.PEOPLE_ADJECTIVES,
                  synthetic.THING_ADJECTIVES_BEFORE, synthetic.PEOPLE_ADJECTIVES_BEFORE):
        for en, *forms in table:
            assert adjectives.setdefault(en, tuple(forms)) == tuple(forms), en  # one meaning per word
    before = {f for en in synthetic.ADJECTIVES_BEFORE for f in adjectives[en]}
    after = {f for en in synthetic.ADJECTIVES_AFTER for f in adjectives[en]}
    # The parsers below rely on a form telling its part of speech.
    assert not before & after and not (before | after) & set(french_nouns)
    forms_agree = {}  # french adjective form -> the (gender, number) it can go with
    for forms in adjectives.values():
        for slot, form in zip(SLOTS, forms):
            forms_agree.setdefault(form, set()).add(slot)
    return french_nouns, english_nouns, adjectives, before, after, forms_agree


@pytest.fixture(scope="module")
def lexicon():
    return _lexicon()


@pytest.fixture(scope="module")
def pairs():
    """Thousands of pairs from several seeds."""
    result = []
    for seed in SEEDS:
        splits = synthetic_splits(SyntheticConfig(seed=seed, num_train=2000, num_valid=500, num_test=500))
        result += splits.train + splits.valid + splits.test
    return result


def clauses(tokens):
    """The clauses of a sentence, without the final '.'."""
    out = [[]]
    for token in tokens[:-1]:
        if token in CONJUNCTIONS:
            out.append([])
        else:
            out[-1].append(token)
    return out


def clause_pairs(pairs):
    for english, french in pairs:
        en_clauses, fr_clauses = clauses(english), clauses(french)
        assert len(en_clauses) == len(fr_clauses), (english, french)
        yield from zip(en_clauses, fr_clauses)


def english_noun_phrases(clause, english_nouns, adjectives):
    """(determiner, adjective or None, noun, negated) for each noun in an English clause."""
    phrases = []
    for j, token in enumerate(clause):
        if token in english_nouns:
            adjective = clause[j - 1] if clause[j - 1] in adjectives else None
            determiner = clause[j - 1 - (adjective is not None)]
            phrases.append((determiner, adjective, token, "not" in clause[:j]))
    return phrases


def french_noun_phrases(clause, french_nouns, before, after):
    """(token before the determiner, determiner, adjective before, noun, adjective after) per noun."""
    phrases = []
    for i, token in enumerate(clause):
        if token in french_nouns:
            pre = clause[i - 1] if clause[i - 1] in before else None
            d = i - 1 - (pre is not None)
            post = clause[i + 1] if i + 1 < len(clause) and clause[i + 1] in after else None
            phrases.append((clause[d - 1] if d else None, clause[d], pre, token, post))
    return phrases


def test_the_recogniser_accepts_every_sentence_and_pair(pairs):
    for english, french in pairs:
        assert grammar.why_not(english, "english") is None, (english, grammar.why_not(english, "english"))
        assert grammar.why_not(french, "french") is None, (french, grammar.why_not(french, "french"))
        assert grammar.is_translation(english, french), (english, french)
        line = english + ["="] + french
        assert grammar.parse_line(line) == (english, french)
    assert len(pairs) == 9000


def test_no_indefinite_article_after_negation(pairs):
    joined = [" ".join(french) for _, french in pairs]
    assert not [t for t in joined if re.search(r"\bpas (\S+ )?(un|une|des)\b", t)]
    negated_indefinite = 0
    for english, french in clause_pairs(pairs):
        if "ne" not in french:
            assert "not" not in english
            continue
        after_pas = french[french.index("ne") + 3]  # ne <verb> pas X
        assert french[french.index("ne") + 2] == "pas" and after_pas in AFTER_NEGATION, french
        obj = next(t for t in english[english.index("not") + 1:] if t in ENGLISH_DETERMINERS)
        if obj in ("a", "an", "any"):
            negated_indefinite += 1
            assert after_pas == "de", (english, french)
        else:
            assert after_pas != "de", (english, french)
    assert negated_indefinite > 1000  # the rule was exercised, not skipped


def test_english_articles_and_any(pairs):
    an_count = 0
    for english, _ in pairs:
        for token, following in zip(english, english[1:]):
            if token == "a":
                assert following[0] not in "aeiou", english
            if token == "an":
                an_count += 1
                assert following[0] in "aeiou", english
    assert an_count > 100
    any_count = 0
    for english, _ in clause_pairs(pairs):
        negation = english.index("not") if "not" in english else len(english)
        assert "some" not in english[negation:], english  # "do not watch any dogs"
        assert "any" not in english[:negation], english  # "any" only under a negation
        any_count += "any" in english
    assert any_count > 500


def test_french_determiners_and_adjectives_agree_with_the_noun(pairs, lexicon):
    french_nouns, _, _, before, after, forms_agree = lexicon
    de_before_adjective = 0
    for _, french in clause_pairs(pairs):
        negated = "pas" in french
        for previous, det, pre, noun, post in french_noun_phrases(french, french_nouns, before, after):
            agreement = french_nouns[noun]
            assert agreement in DETERMINER_AGREES[det], french
            for adjective in (pre, post):
                assert adjective is None or agreement in forms_agree[adjective], french
            assert not (det == "des" and pre), french  # des petits chats -> de petits chats
            if det == "de" and previous != "pas":
                # Outside a negation "de" only stands for "des" before a plural adjective.
                assert pre and agreement[1] == "pl", french
                de_before_adjective += 1
            if det == "du":
                assert previous == "près", french
        assert not negated or french.count("pas") == 1
        assert ("de", "le") not in set(zip(french, french[1:]))  # de + le contracts to du
    assert de_before_adjective > 200


def test_noun_phrases_translate_word_for_word(pairs, lexicon):
    french_nouns, english_nouns, adjectives, before, after, _ = lexicon
    checked = {"before": 0, "after": 0}
    for english, french in clause_pairs(pairs):
        en_phrases = english_noun_phrases(english, english_nouns, adjectives)
        fr_phrases = french_noun_phrases(french, french_nouns, before, after)
        assert len(en_phrases) == len(fr_phrases) >= 1, (english, french)
        for (en_det, en_adj, en_noun, negated), (previous, det, pre, noun, post) in zip(en_phrases, fr_phrases):
            fr_noun, gender, number = english_nouns[en_noun]
            assert noun == fr_noun, (english, french)
            assert en_det in ENGLISH_DETERMINERS, english
            expected = FRENCH_DETERMINER[en_det, gender, number]
            if en_det in ("a", "an", "any") and negated:
                expected = "de"
            elif en_det == "some" and en_adj in synthetic.ADJECTIVES_BEFORE:
                expected = "de"
            if previous == "près" and expected == "le":
                expected = "du"  # près de le -> près du
            assert det == expected, (english, french)
            if en_adj is None:
                assert pre is None and post is None, (english, french)
            else:
                form = adjectives[en_adj][SLOTS[gender, number]]
                side = "before" if en_adj in synthetic.ADJECTIVES_BEFORE else "after"
                assert (pre, post) == ((form, None) if side == "before" else (None, form)), (english, french)
                checked[side] += 1
    assert checked["before"] > 1000 and checked["after"] > 1000


def test_verbs_agree_with_their_subject(pairs, lexicon):
    french_nouns, english_nouns = lexicon[0], lexicon[1]
    stems = {infinitive[:-2] for _, _, infinitive in synthetic.VERBS}
    conjugated = {stem + ending for stem in stems for ending in ("e", "es", "ez", "ons", "ent")}
    third_singular = {form.split()[0] for _, form, _ in synthetic.VERBS} | {"does"}
    base = {form.split()[0] for form, _, _ in synthetic.VERBS} | {"do"}
    verbs = third_singular | base
    endings = set()
    for english, french in clause_pairs(pairs):
        verb_at = next(i for i, t in enumerate(french) if t in conjugated)
        subject = [t for t in french[:verb_at] if t != "ne"]
        if len(subject) == 1:
            ending = PRONOUN_ENDING[subject[0]]
        else:
            number = next(french_nouns[t][1] for t in subject if t in french_nouns)
            ending = "e" if number == "sg" else "ent"
        verb = french[verb_at]
        assert verb.endswith(ending) and verb[:-len(ending)] in stems, (english, french)
        endings.add(ending)
        # English: he/she and singular nouns take "does" or the -s form, the others "do" or the base form.
        en_verb_at = next(j for j, t in enumerate(english) if t in verbs)
        subject = english[:en_verb_at]
        singular = subject in (["he"], ["she"]) or any(english_nouns[t][2] == "sg"
                                                      for t in subject if t in english_nouns)
        assert english[en_verb_at] in (third_singular if singular else base), english
    assert endings == {"e", "ez", "ons", "ent"}


def test_both_adjective_positions_are_frequent():
    for seed in SEEDS:
        test = synthetic_splits(SyntheticConfig(seed=seed, num_train=0, num_valid=0, num_test=1000)).test
        with_before = sum(bool(synthetic.ADJECTIVES_BEFORE & set(english)) for english, _ in test)
        with_after = sum(bool(synthetic.ADJECTIVES_AFTER & set(english)) for english, _ in test)
        assert with_before >= 200 and with_after >= 200, (seed, with_before, with_after)


def test_splits_are_deterministic_and_disjoint():
    config = SyntheticConfig(seed=5, num_train=1000, num_valid=300, num_test=700)
    splits, again = synthetic_splits(config), synthetic_splits(config)
    assert (splits.train, splits.valid, splits.test) == (again.train, again.valid, again.test)
    assert synthetic_splits(SyntheticConfig(seed=6, num_train=0, num_valid=0, num_test=700)).test != splits.test
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (1000, 300, 700)
    sentences = [tuple(english) for english, _ in splits.train + splits.valid + splits.test]
    assert len(set(sentences)) == len(sentences)  # none in two splits, none twice in one


def _row(table, english):
    return next(row for row in table if row[0] == english)


@pytest.mark.parametrize("noun, number, det, adjective, negated, english, french", [
    ("apple", "sg", "a", None, False, "an apple", "une pomme"),
    ("car", "sg", "a", "expensive", False, "an expensive car", "une voiture chère"),
    ("hat", "sg", "a", "old", False, "an old hat", "un vieux chapeau"),
    ("bike", "sg", "a", "empty", False, "an empty bike", "un vélo vide"),
    ("box", "sg", "a", "heavy", False, "a heavy box", "une boîte lourde"),
    ("bag", "sg", "a", None, True, "a bag", "de sac"),
    ("pen", "pl", "some", "expensive", True, "any expensive pens", "de stylos chers"),
    ("dog", "pl", "some", None, False, "some dogs", "des chiens"),
    ("dog", "pl", "some", None, True, "any dogs", "de chiens"),
    ("cat", "pl", "some", "small", False, "some small cats", "de petits chats"),
    ("dress", "pl", "some", "beautiful", False, "some beautiful dresses", "de belles robes"),
    ("boat", "pl", "some", "beautiful", True, "any beautiful boats", "de beaux bateaux"),
    ("house", "pl", "these", "old", False, "these old houses", "ces vieilles maisons"),
    ("horse", "pl", "my", "old", True, "my old horses", "mes vieux chevaux"),
    ("lamp", "sg", "this", "big", False, "this big lamp", "cette grande lampe"),
    ("car", "pl", "the", "red", False, "the red cars", "les voitures rouges"),
    ("box", "sg", "the", "white", True, "the white box", "la boîte blanche"),
    ("shirt", "pl", "my", None, True, "my shirts", "mes chemises"),
    ("girl", "sg", "this", "young", False, "this young girl", "cette jeune fille"),
    ("woman", "sg", "a", "tall", False, "a tall woman", "une grande femme"),
    ("boy", "pl", "some", "young", False, "some young boys", "de jeunes garçons"),
    ("queen", "pl", "the", "happy", False, "the happy queens", "les reines heureuses"),
])
def test_golden_noun_phrases(noun, number, det, adjective, negated, english, french):
    tables = synthetic.THINGS + synthetic.PEOPLE
    adjectives = (synthetic.THING_ADJECTIVES + synthetic.PEOPLE_ADJECTIVES
                  + synthetic.THING_ADJECTIVES_BEFORE + synthetic.PEOPLE_ADJECTIVES_BEFORE)
    got = synthetic._noun_phrase(_row(tables, noun), number, _row(synthetic.DETERMINERS[number], det),
                                 adjective and _row(adjectives, adjective), negated)
    assert got == (english.split(), french.split())


def test_golden_sentences():
    # The first pairs of seed 694, translated by hand: "any" and "de" under a negation, "de" for
    # "des" before a plural adjective, "an", both adjective positions, "près de la".
    expected = [
        ("he carries my horses and these farmers do not break any big books but some beautiful farmers"
         " look for an apple .",
         "il porte mes chevaux et ces fermiers ne cassent pas de grands livres mais de beaux fermiers"
         " cherchent une pomme ."),
        ("a brother keeps the small bag behind the park .",
         "un frère garde le petit sac derrière le parc ."),
        ("these doctors repair this cake near the kitchen and they keep some glasses but they do not keep"
         " the beautiful coat .",
         "ces médecins réparent ce gâteau près de la cuisine et ils gardent des verres mais ils ne gardent"
         " pas le beau manteau ."),
    ]
    test = synthetic_splits(SyntheticConfig(seed=694, num_train=0, num_valid=0, num_test=len(expected))).test
    assert [(" ".join(en), " ".join(fr)) for en, fr in test] == expected


def test_lexicon_never_needs_elision_or_sound_based_articles(lexicon):
    french_nouns = lexicon[0]
    before_forms = lexicon[3]
    infinitives = [infinitive for _, _, infinitive in synthetic.VERBS]
    for word in [*french_nouns, *before_forms, *infinitives]:
        # le/la -> l', de -> d', ne -> n', ce -> cet, beau -> bel, vieux -> vieil before a vowel or mute h.
        assert not re.match(r"[aeiouyàâäéèêëîïôöùûüœæh]", word), word
    # "a"/"an" go by the first letter: no word whose sound disagrees with it ("a unicorn", "an hour").
    for word in [*synthetic.ENGLISH_NOUNS, *synthetic.ADJECTIVES_BEFORE, *synthetic.ADJECTIVES_AFTER]:
        assert not re.match(r"u|eu|one|hour|hon|heir", word), word


def test_public_word_sets(lexicon):
    assert synthetic.ADJECTIVES_BEFORE == {"small", "big", "tall", "beautiful", "old", "young"}
    assert not synthetic.ADJECTIVES_BEFORE & synthetic.ADJECTIVES_AFTER
    assert {"red", "expensive", "empty", "new", "happy", "polite"} <= synthetic.ADJECTIVES_AFTER
    tables = synthetic.THING_ADJECTIVES + synthetic.PEOPLE_ADJECTIVES
    assert len(synthetic.ADJECTIVES_AFTER) == len(tables) == 20
    assert {"boy", "boys", "women", "knives", "apple", "garden", "office"} <= synthetic.ENGLISH_NOUNS
    assert synthetic.ENGLISH_NOUNS == set(lexicon[1])
    assert len(synthetic.ENGLISH_NOUNS) == 2 * (len(synthetic.PEOPLE) + len(synthetic.THINGS)) + len(synthetic.PLACES)
    assert not synthetic.ENGLISH_NOUNS & (synthetic.ADJECTIVES_BEFORE | synthetic.ADJECTIVES_AFTER)


def test_docstring_word_counts_are_true(pairs):
    english = {t for en, _ in pairs for t in en}
    french = {t for _, fr in pairs for t in fr}
    stated = re.search(r"produces (\d+) English and (\d+) French word forms", synthetic.__doc__)
    assert stated and (int(stated[1]), int(stated[2])) == (len(english), len(french))


def test_generation_is_fast():
    start = time.perf_counter()
    synthetic_splits(SyntheticConfig(num_train=20_000, num_valid=500, num_test=1_000))
    assert time.perf_counter() - start < 2.5  # about 0.4 s on 2 cores; a budget, not a benchmark
