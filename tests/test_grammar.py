"""Tests of attn.grammar: the recogniser accepts the corpus and names the rule a broken sentence breaks.

Judging is fast enough to sit inside a chapter: 10,000 sentences of the default corpus (15 tokens
on average) take about 0.15 s on 2 cores, and so do 5,000 pairs for is_translation.
"""

import pytest

from attn import grammar
from attn.grammar import RULES, is_english, is_french, is_translation, parse_line, why_not
from attn.synthetic import SyntheticConfig, synthetic_splits

CONFIGS = {
    "default": SyntheticConfig(seed=0, num_train=3000, num_valid=500, num_test=1000),
    "one clause": SyntheticConfig(seed=1, num_train=3000, num_valid=500, num_test=1000, max_clauses=1),
    "long": SyntheticConfig(seed=2, num_train=1000, num_valid=200, num_test=300, max_clauses=5, max_len=45,
                            p_negation=0.6, p_adjective=0.9, p_place=0.6),
}
EN = "these doctors repair this cake near the kitchen and they do not keep any beautiful coats ."
FR = "ces médecins réparent ce gâteau près de la cuisine et ils ne gardent pas de beaux manteaux ."


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def splits(request):
    return synthetic_splits(CONFIGS[request.param])


def test_every_sentence_and_pair_of_every_split_is_accepted(splits):
    for name in ("train", "valid", "test"):
        for english, french in getattr(splits, name):
            assert why_not(english, "english") is None, (name, english, why_not(english, "english"))
            assert why_not(french, "french") is None, (name, french, why_not(french, "french"))
            assert is_translation(english, french), (name, english, french)


def test_the_golden_pair_is_accepted():
    assert is_english(EN.split()) and is_french(FR.split()) and is_translation(EN.split(), FR.split())


def replace(sentence: str, old: str, new: str) -> list[str]:
    assert f" {old} " in f" {sentence} ", old
    return f" {sentence} ".replace(f" {old} ", f" {new} ", 1).split()


CASES = [
    ("english", [], "empty"),
    ("french", [], "empty"),
    ("english", replace(EN, "cake", "gâteau"), "vocabulary"),           # a word of the other language
    ("french", replace(FR, "gâteau", "cake"), "vocabulary"),
    ("english", replace(EN, "cake", "zebra"), "vocabulary"),
    ("english", EN.split()[:-1], "end"),                                 # no final "."
    ("french", FR.split()[:5], "end"),                                   # truncated
    ("french", FR.split()[:4] + ["."], "structure"),                     # truncated, '.' put back
    ("english", EN.split()[:3] + ["."], "structure"),
    ("french", FR.split()[:5] + ["."], None),                            # a shorter sentence
    ("english", replace(EN, "this cake", "cake this"), "structure"),
    ("english", replace(EN, "beautiful coats", "coats beautiful"), "adjective position"),
    ("french", replace(FR, "de beaux manteaux", "de manteaux beaux"), "adjective position"),
    ("french", "il porte une voiture rouge .".split(), None),
    ("french", "il porte une rouge voiture .".split(), "adjective position"),
    ("french", "il porte une voiture petite .".split(), "adjective position"),
    ("french", "il porte une petite voiture .".split(), None),
    ("french", "il porte un voiture .".split(), "determiner agreement"),  # gender
    ("french", "il porte la voitures .".split(), "determiner agreement"),  # number
    ("english", "he carries a cars .".split(), "determiner agreement"),
    ("english", "he carries these car .".split(), "determiner agreement"),
    ("english", "he carries an car .".split(), "a/an"),
    ("english", "he carries a apple .".split(), "a/an"),
    ("english", "he carries an old car .".split(), None),
    ("french", "il porte une voiture rouges .".split(), "adjective agreement"),
    ("french", "il porte une voiture vert .".split(), "adjective agreement"),
    ("french", "il porte une petit voiture .".split(), "adjective agreement"),
    ("french", "il ne porte pas une voiture .".split(), "negation"),    # "un" after a negation
    ("french", "il ne porte pas un sac .".split(), "negation"),
    ("french", "il ne porte pas des sacs .".split(), "negation"),
    ("french", "il ne porte pas de sacs .".split(), None),
    ("french", "il ne porte un sac .".split(), "negation"),            # ne without pas
    ("french", "il porte pas un sac .".split(), "negation"),           # pas without ne
    ("english", "he does not carry some bags .".split(), "negation"),
    ("english", "he carries any bags .".split(), "negation"),
    ("english", "he does not carries a bag .".split(), "negation"),
    ("french", "il porte des petits sacs .".split(), "de"),
    ("french", "il porte de sacs .".split(), "de"),
    ("french", "il porte de petits sacs .".split(), None),
    ("english", "he carry a bag .".split(), "verb agreement"),
    ("english", "they carries a bag .".split(), "verb agreement"),
    ("english", "the boys does not carry a bag .".split(), "verb agreement"),
    ("french", "nous porte un sac .".split(), "verb agreement"),
    ("french", "les garçons porte un sac .".split(), "verb agreement"),
    ("french", "le garçon portent un sac .".split(), "verb agreement"),
    ("french", "il porte un sac près de le jardin .".split(), "contraction"),
    ("french", "il porte un sac près du jardin .".split(), None),
    ("english", "the dog carries a bag .".split(), "word category"),   # things are not subjects
    ("english", "he carries a happy bag .".split(), "word category"),  # a person's adjective
    ("french", "il porte un sac dans la jardin .".split(), "determiner agreement"),
]


@pytest.mark.parametrize("language, tokens, rule", CASES)
def test_broken_sentences_name_the_rule_they_break(language, tokens, rule):
    reason = why_not(tokens, language)
    if rule is None:
        assert reason is None, reason
    else:
        assert reason is not None and reason.split(":")[0] == rule, reason
        assert rule in RULES
    accept = is_english if language == "english" else is_french
    assert accept(tokens) == (rule is None)


def test_every_rule_has_a_broken_example():
    assert {rule for _, _, rule in CASES} - {None} == set(RULES)


def test_mutations_of_the_test_split_are_rejected():
    """Systematic mutations of 1,000 test pairs: each kind is rejected every time it applies."""
    test = synthetic_splits(CONFIGS["default"]).test
    french_to_swap = {"un": "une", "une": "un", "le": "la", "la": "le", "ce": "cette", "cette": "ce"}
    counts = {}

    def rejected(kind, tokens, language, rule):
        reason = why_not(tokens, language)
        assert reason is not None and reason.startswith(rule), (kind, tokens, reason)
        counts[kind] = counts.get(kind, 0) + 1

    for english, french in test:
        for i, token in enumerate(french):
            # (not after "près de", where "le" breaks the contraction rule first)
            if token in french_to_swap and french[i + 1] not in grammar.FR_ADJECTIVES \
                    and french[i - 1] != "de":
                mutated = french[:i] + [french_to_swap[token]] + french[i + 1:]
                rejected("determiner gender", mutated, "french", "determiner agreement")
                break
        for i, token in enumerate(french):
            # an adjective after its noun moved before it
            if token in grammar.FR_NOUNS and i + 1 < len(french) and french[i + 1] in grammar.FR_ADJECTIVES:
                mutated = french[:i] + [french[i + 1], token] + french[i + 2:]
                rejected("adjective moved", mutated, "french", "adjective position")
                break
        for i, token in enumerate(english):
            if token in grammar.EN_ADJECTIVES:
                mutated = english[:i] + [english[i + 1], token] + english[i + 2:]
                rejected("english adjective moved", mutated, "english", "adjective position")
                break
        if "pas" in french and french[french.index("pas") + 1] == "de":
            at = french.index("pas") + 1
            noun = next(t for t in french[at:] if t in grammar.FR_NOUNS)
            _, _, gender, number = grammar.FR_NOUNS[noun]
            article = "des" if number == "pl" else {"m": "un", "f": "une"}[gender]
            rejected("article after pas", french[:at] + [article] + french[at + 1:], "french", "negation")
        for i, token in enumerate(french):
            if token in grammar.FR_VERBS:
                stem = token[:-len(grammar.FR_VERBS[token][1])]
                other = stem + ("ons" if not token.endswith("ons") else "ez")
                rejected("verb ending", french[:i] + [other] + french[i + 1:], "french", "verb agreement")
                break
        rejected("truncated", french[:len(french) // 2], "french", "end")
        rejected("english truncated", english[:len(english) // 2], "english", "end")
    assert min(counts.values()) > 100 and len(counts) == 7, counts


def test_a_pair_with_one_french_word_changed_is_not_a_translation():
    test = synthetic_splits(CONFIGS["default"]).test
    nouns = sorted(grammar.FR_NOUNS)
    changed = 0
    for english, french in test[:300]:
        # Each position in turn takes another word of the same part of speech, kept grammatical
        # where possible: the sentence may stay French, but it no longer says the English.
        for i, token in enumerate(french):
            if token in grammar.FR_NOUNS:
                lemma, kind, gender, number = grammar.FR_NOUNS[token]
                same = [n for n in nouns if grammar.FR_NOUNS[n][1:] == (kind, gender, number)
                        and grammar.FR_NOUNS[n][0] != lemma]
                replacement = same[0] if same else "chien"
            elif token in grammar.FR_VERBS:
                base, ending = grammar.FR_VERBS[token]
                replacement = next(v for v, (b, e) in grammar.FR_VERBS.items() if e == ending and b != base)
            elif token in ("et", "mais"):
                replacement = "mais" if token == "et" else "et"
            else:
                continue
            mutated = french[:i] + [replacement] + french[i + 1:]
            assert not is_translation(english, mutated), (english, mutated)
            changed += 1
    assert changed > 1000


def test_translation_needs_matching_clauses_and_phrases():
    en, fr = EN.split(), FR.split()
    assert not is_translation(en, replace(FR, "ces médecins", "les médecins"))  # determiner kind
    assert not is_translation(en, replace(FR, "beaux manteaux", "beaux chapeaux"))
    assert not is_translation(en, replace(FR, "ne gardent pas de beaux manteaux", "gardent de beaux manteaux"))
    assert not is_translation(en, replace(FR, "ce gâteau", "ces gâteaux"))  # number
    assert not is_translation(en, replace(FR, "près de la cuisine", "dans la cuisine"))  # place
    assert not is_translation(en, FR.split()[:9] + ["."])  # a clause missing
    assert not is_translation(fr, en)  # the sides swapped
    assert is_translation(replace(EN, "they", "you"), replace(FR, "ils ne gardent", "vous ne gardez"))


def test_parse_line():
    assert parse_line(EN.split() + ["="] + FR.split()) == (EN.split(), FR.split())
    assert parse_line(EN.split()) is None
    assert parse_line(["a", "=", "b", "="]) is None
    assert parse_line(["="]) == ([], [])
