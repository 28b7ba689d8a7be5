"""Translation data that never needs the network.

Two sources of English-French sentence pairs feed one pipeline:

* :func:`synthetic_splits` generates pairs from a small grammar whose French is
  correct French (adjectives after the noun, gender and number agreement,
  conjugation by subject, ``ne ... pas``, coordination for long sentences),
  deterministically from a seed, with disjoint train/valid/test splits.
* :func:`read_tatoeba` reads the tab-separated ``fra.txt`` of the Tatoeba/Anki
  project if a reader has downloaded it.

A pair is ``(source_tokens, target_tokens)``, two lists of strings. :class:`Vocab`
maps tokens to indices, :func:`build_array` pads or truncates to ``num_steps``, and
:func:`load_translation_data` returns vocabularies and ``DataLoader``s whose batches
are ``(src (B, S), src_valid_lens (B,), tgt (B, T), tgt_valid_lens (B,))``.
"""

from __future__ import annotations

import collections
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

Pair = tuple[list[str], list[str]]

# ---------------------------------------------------------------------------
# The grammar. Nouns: (english, english plural, french, french plural, gender).
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
# Adjectives that follow the noun in French: (english, m. sg., f. sg., m. pl., f. pl.).
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


def _noun_phrase(rng: random.Random, nouns, adjectives, p_adjective: float):
    """English and French tokens of 'det [adj] noun' / 'det noun [adj]', and its number."""
    en, en_pl, fr, fr_pl, gender = rng.choice(nouns)
    number = rng.choice(["sg", "pl"])
    det_en, det_m, det_f = rng.choice(DETERMINERS[number])
    english = [det_en]
    french = [det_m if gender == "m" else det_f, fr if number == "sg" else fr_pl]
    if rng.random() < p_adjective:
        adj_en, *forms = rng.choice(adjectives)
        english.append(adj_en)  # English: before the noun
        french.append(forms[(gender == "f") + 2 * (number == "pl")])  # French: after it, agreeing
    english.append(en if number == "sg" else en_pl)
    return english, french, number


def _clause(rng: random.Random, config: SyntheticConfig) -> Pair:
    if rng.random() < 0.5:
        subj_en, subj_fr, person = rng.choice(PRONOUNS)
        subj_en, subj_fr = [subj_en], [subj_fr]
    else:
        subj_en, subj_fr, number = _noun_phrase(rng, PEOPLE, PEOPLE_ADJECTIVES, 0.3)
        person = "3s" if number == "sg" else "3p"
    verb_en, verb_en3, infinitive = rng.choice(VERBS)
    verb_fr = infinitive[:-2] + ENDINGS[person]
    english, french = list(subj_en), list(subj_fr)
    if rng.random() < config.p_negation:
        english += ["does" if person == "3s" else "do", "not", *verb_en.split()]
        french += ["ne", verb_fr, "pas"]
    else:
        english += (verb_en3 if person == "3s" else verb_en).split()
        french.append(verb_fr)
    obj_en, obj_fr, _ = _noun_phrase(rng, THINGS, THING_ADJECTIVES, config.p_adjective)
    english += obj_en
    french += obj_fr
    if rng.random() < config.p_place:
        prep_en, prep_fr = rng.choice(PREPOSITIONS)
        place_en, place_fr, gender = rng.choice(PLACES)
        article = "le" if gender == "m" else "la"
        if prep_fr[-1] == "de" and article == "le":  # de + le -> du
            prep_fr, article = prep_fr[:-1], "du"
        english += [prep_en, "the", *place_en.split()]
        french += [*prep_fr, article, place_fr]
    return english, french


def synthetic_pair(rng: random.Random, config: SyntheticConfig) -> Pair:
    """One English-French pair of 1 to ``config.max_clauses`` clauses, ending in '.'."""
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


def synthetic_splits(config: SyntheticConfig | None = None) -> Splits:
    """Generate distinct pairs from the grammar and split them three ways.

    Every English sentence occurs once in the whole corpus, so no test (or
    validation) sentence appears in the training split. The same config gives
    the same splits on every machine.
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


# ---------------------------------------------------------------------------
# The Tatoeba/Anki file: "English<TAB>French[<TAB>attribution]" per line.
def preprocess(text: str) -> str:
    """Lower-case, turn (narrow) non-breaking spaces into spaces, space out punctuation."""
    text = text.replace("\u202f", " ").replace("\xa0", " ").lower()
    text = re.sub(r"(?<=\S)([,.!?;:])", r" \1", text)  # "bonjour!" -> "bonjour !"
    return " ".join(text.split())


def tokenize(text: str) -> list[str]:
    """Preprocess a sentence and split it into word and punctuation tokens."""
    return preprocess(text).split()


def read_tatoeba(path: str | Path, max_pairs: int | None = None) -> list[Pair]:
    """Read a Tatoeba/Anki ``fra.txt`` into tokenized (English, French) pairs.

    Each non-blank line holds two or three tab-separated columns: English,
    French and an optional attribution, which is dropped. Blank lines are
    skipped. Any other line raises ``ValueError`` naming the file and line.
    """
    pairs: list[Pair] = []
    with open(path, encoding="utf-8") as file:
        for line_no, line in enumerate(file, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            columns = line.split("\t")
            if len(columns) not in (2, 3):
                raise ValueError(f"{path}, line {line_no}: expected 2 or 3 tab-separated columns "
                                 f"(English, French[, attribution]), got {len(columns)}")
            english, french = tokenize(columns[0]), tokenize(columns[1])
            if not english or not french:
                raise ValueError(f"{path}, line {line_no}: empty English or French sentence")
            pairs.append((english, french))
            if max_pairs is not None and len(pairs) >= max_pairs:
                break
    return pairs


# ---------------------------------------------------------------------------
# Vocabulary, arrays and loaders.
class Vocab:
    """Token <-> index maps. Indices 0-3 are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``.

    Tokens seen fewer than ``min_freq`` times map to ``<unk>``. The others follow
    in order of decreasing frequency, ties alphabetically, so the same sentences
    always give the same vocabulary.
    """

    reserved = ("<pad>", "<bos>", "<eos>", "<unk>")

    def __init__(self, sentences: Iterable[Sequence[str]], min_freq: int = 1):
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        counter = collections.Counter(token for sentence in sentences for token in sentence)
        frequent = sorted((t for t, c in counter.items() if c >= min_freq and t not in self.reserved),
                          key=lambda t: (-counter[t], t))
        self.idx_to_token = list(self.reserved) + frequent
        self.token_to_idx = {token: i for i, token in enumerate(self.idx_to_token)}
        self.pad, self.bos, self.eos, self.unk = range(4)

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        """Index of a token, or list of indices of a list of tokens (unknown -> ``<unk>``)."""
        if isinstance(tokens, str):
            return self.token_to_idx.get(tokens, self.unk)
        return [self[token] for token in tokens]

    def to_tokens(self, indices) -> list[str] | str:
        """Token of an index, or tokens of a sequence of indices."""
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        if isinstance(indices, int):
            return self.idx_to_token[indices]
        return [self.idx_to_token[int(i)] for i in indices]


def build_array(sentences: Sequence[Sequence[str]], vocab: Vocab, num_steps: int):
    """Indices of each sentence plus ``<eos>``, padded or truncated to ``num_steps``.

    Returns:
        ``array`` (N, num_steps) long and ``valid_lens`` (N,) long: the number
        of non-pad positions of each row (a truncated row has no ``<eos>``).
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    rows = [(vocab[list(s)] + [vocab.eos])[:num_steps] for s in sentences]
    array = torch.full((len(rows), num_steps), vocab.pad, dtype=torch.long)
    for i, row in enumerate(rows):
        array[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    valid_lens = torch.tensor([len(row) for row in rows], dtype=torch.long)
    return array, valid_lens


class BucketBatchSampler(Sampler):
    """Shuffled batches of similar source length, so that little time goes to padding.

    Each epoch shuffles the examples, sorts pools of ``50 * batch_size`` by length,
    cuts them into batches and shuffles the batches. Deterministic for a seed.
    """

    def __init__(self, lengths: torch.Tensor, batch_size: int, seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths, self.batch_size = lengths, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        order = torch.randperm(len(self.lengths), generator=self.generator)
        pool = 50 * self.batch_size
        batches = []
        for start in range(0, len(order), pool):
            chunk = order[start:start + pool]
            chunk = chunk[torch.argsort(self.lengths[chunk], stable=True)]
            batches += [chunk[i:i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        for i in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[i]

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


def trim_batch(batch):
    """Collate (src, src_len, tgt, tgt_len) examples and cut the padding no row needs."""
    src, src_len, tgt, tgt_len = (torch.stack(x) for x in zip(*batch))
    return src[:, :int(src_len.max())], src_len, tgt[:, :int(tgt_len.max())], tgt_len


@dataclass
class TranslationData:
    """Vocabularies and loaders of one corpus; batches are (src, src_len, tgt, tgt_len)."""

    src_vocab: Vocab
    tgt_vocab: Vocab
    train_iter: DataLoader
    valid_iter: DataLoader
    test_iter: DataLoader
    num_steps: int


def load_translation_data(splits: Splits, batch_size: int = 64, num_steps: int = 32,
                          min_freq: int = 1, seed: int = 0) -> TranslationData:
    """Vocabularies from the training pairs and a ``DataLoader`` per split.

    The training loader draws length-bucketed, shuffled batches (deterministic
    for ``seed``); validation and test loaders keep the order of the pairs.
    Every batch is trimmed to its longest source and target.
    """
    if not splits.train:
        raise ValueError("the training split is empty: no vocabulary can be built")
    src_vocab = Vocab([s for s, _ in splits.train], min_freq)
    tgt_vocab = Vocab([t for _, t in splits.train], min_freq)

    def dataset(pairs):
        src, src_len = build_array([s for s, _ in pairs], src_vocab, num_steps)
        tgt, tgt_len = build_array([t for _, t in pairs], tgt_vocab, num_steps)
        return TensorDataset(src, src_len, tgt, tgt_len)

    train = dataset(splits.train)
    train_iter = DataLoader(train, batch_sampler=BucketBatchSampler(train.tensors[1], batch_size, seed),
                            collate_fn=trim_batch)
    valid_iter, test_iter = (DataLoader(dataset(p), batch_size=batch_size, collate_fn=trim_batch)
                             for p in (splits.valid, splits.test))
    return TranslationData(src_vocab, tgt_vocab, train_iter, valid_iter, test_iter, num_steps)
