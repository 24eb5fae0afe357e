"""The table of binary, meaning-preserving alternations the watermark chooses between.

Why a hand-written table: every change the watermark makes must be one a reader would accept as the
same answer. Each :class:`Pair` names two spellings that mean the same thing wherever the guards let
the pair apply (contractions, a few connectives and synonyms chosen for being safe in answers). Words
that change meaning by sense or part of speech (``use``/``utilize``: "the use of"; ``start``/``begin``:
"at the start"; ``no one``/``nobody``: "no one solution"; ``at times``/``sometimes``: "at times t1 and
t2") are left out on purpose, and the risky senses of the pairs kept are fenced off by the
guards below (a determiner before ``purchase`` makes it a noun; ``it is`` at the end of a clause cannot
be contracted; ``it's been`` is "it has been", so it is never expanded to "it is been").

Every word belongs to at most one pair, so an occurrence names its pair without ambiguity.
"""

from __future__ import annotations

from dataclasses import dataclass

#: words after which a verb form reads as a noun ("the purchase", "a good buy")
_DETERMINERS = frozenset(
    "a an the this that these those his her its their my your our each every any some no one "
    "first last another other such what which whose good great".split()
)
#: the subject pronouns that have their own "<subject> <verb>" contraction pair: "it isn't" is left
#: alone so that expanding it ("it is not") is never re-read as the pair "it is" + "not"
_IS_SUBJECTS = frozenset("it that there what here who he she".split())
_ARE_SUBJECTS = frozenset("you we they".split())
_WILL_SUBJECTS = frozenset("i you we they it he she that".split())
_HAS_WORDS = frozenset("been got gotten had not".split())  # "it's been" = it has been; "it's not" kept


@dataclass(frozen=True)
class Pair:
    """Two interchangeable spellings (``a`` and ``b``, lower case; ``'`` stands for either apostrophe).

    ``need_next_word``: apply only when a word (or number) follows on the same line, since a contraction
    cannot end a clause ("I know what it is." / "...what it's."). ``bad_next``/``bad_prev``: the pair
    does not apply when the next/previous word is one of these. ``only_capitalized``: apply only at the
    start of a sentence-like capitalised occurrence (the imperative "Let us", not "please let us").
    """

    id: str
    a: str
    b: str
    need_next_word: bool = False
    bad_next: frozenset[str] = frozenset()
    bad_prev: frozenset[str] = frozenset()
    only_capitalized: bool = False


def _not(verb: str, contracted: str, subjects: frozenset[str] = frozenset()) -> Pair:
    return Pair(f"{verb}-not", f"{verb} not", contracted, bad_prev=subjects)


def _be(subject: str, contracted: str, extra_next: frozenset[str] = frozenset()) -> Pair:
    verb = "am" if subject == "i" else "are" if subject in _ARE_SUBJECTS else "is"
    return Pair(
        f"{subject}-be", f"{subject} {verb}", contracted,
        need_next_word=True, bad_next=frozenset({"not"}) | extra_next,
    )


def _will(subject: str) -> Pair:
    return Pair(f"{subject}-will", f"{subject} will", f"{subject}'ll", need_next_word=True,
                bad_next=frozenset({"not"}))


PAIRS: tuple[Pair, ...] = (
    # negations
    _not("is", "isn't", _IS_SUBJECTS),
    _not("are", "aren't", _ARE_SUBJECTS),
    _not("was", "wasn't"),
    _not("were", "weren't"),
    _not("do", "don't"),
    _not("does", "doesn't"),
    _not("did", "didn't"),
    _not("has", "hasn't"),
    _not("have", "haven't"),
    _not("had", "hadn't"),
    _not("would", "wouldn't"),
    _not("could", "couldn't"),
    _not("should", "shouldn't"),
    _not("must", "mustn't"),
    _not("will", "won't", _WILL_SUBJECTS),
    Pair("can-not", "cannot", "can't"),
    # subject + be
    _be("i", "i'm"),
    _be("you", "you're"),
    _be("we", "we're"),
    _be("they", "they're"),
    _be("it", "it's", _HAS_WORDS),
    _be("that", "that's", _HAS_WORDS),
    _be("there", "there's", _HAS_WORDS),
    _be("what", "what's", _HAS_WORDS),
    _be("here", "here's", _HAS_WORDS),
    _be("who", "who's", _HAS_WORDS),
    _be("he", "he's", _HAS_WORDS),
    _be("she", "she's", _HAS_WORDS),
    # subject + will
    *(_will(s) for s in ("i", "you", "we", "they", "it", "he", "she", "that")),
    # modal + have
    Pair("would-have", "would have", "would've", need_next_word=True),
    Pair("could-have", "could have", "could've", need_next_word=True),
    Pair("should-have", "should have", "should've", need_next_word=True),
    Pair("let-us", "let us", "let's", only_capitalized=True, bad_next=frozenset({"know", "have", "see"})),
    # connectives
    Pair("for-example", "for example", "for instance"),
    Pair("therefore", "therefore", "thus"),
    Pair("hence", "hence", "consequently"),
    Pair("moreover", "moreover", "furthermore"),
    Pair("in-addition", "in addition", "additionally", bad_next=frozenset({"to"})),
    Pair("although", "although", "though", need_next_word=True, bad_prev=frozenset({"even", "as"})),
    Pair("similarly", "similarly", "likewise"),
    Pair("first-of-all", "first of all", "firstly", bad_prev=_DETERMINERS),  # not "the first of all the..."
    Pair("make-sure-that", "make sure that", "ensure that"),
    Pair("makes-sure-that", "makes sure that", "ensures that"),
    # adverbs
    Pair("maybe", "maybe", "perhaps"),
    Pair("often", "often", "frequently"),
    Pair("usually", "usually", "typically"),
    Pair("almost", "almost", "nearly"),
    Pair("roughly", "roughly", "approximately"),
    Pair("quickly", "quickly", "rapidly"),
    Pair("completely", "completely", "entirely"),
    Pair("mostly", "mostly", "largely"),
    Pair("mainly", "mainly", "primarily"),
    Pair("rarely", "rarely", "seldom"),
    Pair("toward", "toward", "towards"),
    Pair("afterward", "afterward", "afterwards"),
    Pair("among", "among", "amongst"),
    Pair("until", "until", "till"),
    # pronouns
    Pair("anyone", "anyone", "anybody"),
    Pair("everyone", "everyone", "everybody"),
    Pair("someone", "someone", "somebody"),
    # verbs
    Pair("calculate", "calculate", "compute"),
    Pair("calculates", "calculates", "computes"),
    Pair("calculated", "calculated", "computed"),
    Pair("calculation", "calculation", "computation"),
    Pair("calculations", "calculations", "computations"),
    Pair("buy", "buy", "purchase", bad_prev=_DETERMINERS),
    Pair("buys", "buys", "purchases", bad_prev=_DETERMINERS),
    Pair("bought", "bought", "purchased"),
    Pair("buying", "buying", "purchasing"),
    Pair("tried", "tried", "attempted"),
    Pair("want-to", "want to", "wish to"),
    Pair("wants-to", "wants to", "wishes to"),
    Pair("wanted-to", "wanted to", "wished to"),
    Pair("needed", "needed", "required"),
    Pair("a-lot-of", "a lot of", "lots of"),
    # adjectives
    Pair("large", "large", "big", bad_next=frozenset({"o", "data", "bang", "ben", "language", "languages"})),
    Pair("larger", "larger", "bigger"),
    Pair("largest", "largest", "biggest"),
    Pair("huge", "huge", "enormous"),
    Pair("additional", "additional", "extra"),
)


def _check(pairs: tuple[Pair, ...]) -> None:
    seen: dict[str, str] = {}
    ids: set[str] = set()
    for p in pairs:
        assert p.id not in ids, p.id
        ids.add(p.id)
        for form in (p.a, p.b):
            assert form == form.lower() and form not in seen, (form, p.id, seen.get(form))
            seen[form] = p.id


_check(PAIRS)
