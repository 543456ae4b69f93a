"""The verb phrase of a pool API, as a person says it (ToolACE arXiv 2409.00920v2 §2.2: the user agent asks for what
an API of §2.1's pool does): a leaf of the API context tree is a bare verb phrase ("book flight", "get hotel
details"); a request needs its article ("book a flight", "get the hotel details"), a summary its past tense ("I
booked the flight"). Plain English rules over the tree's own verbs, no model.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

# verbs that bring something new into being take "a/an" (book a flight); the others act on a known thing (the)
_CREATE = frozenset("""
add apply book build buy create draft file generate issue launch log make open order place plan post propose
purchase quote record register rent report request reserve save schedule send submit upload write
""".split())
# verbs whose plural object is a search space, not a known set: "search flights", not "search the flights"
_SEARCH = frozenset("search find list recommend suggest compare browse discover match".split())
_PARTICLES = frozenset("in out on off up down into over back away".split())
_NO_ARTICLE = frozenset("""
a an the my our your his her their its this that these those all any each every some to for of from with in on at
by about into onto out up down off over new
""".split())
# nouns that take no "a/an" ("log a workout" but "translate text", "buy travel insurance")
_MASS = frozenset("""
text weather information data feedback money music traffic software advice equipment news progress research
evidence time energy water power inventory content code usage history insurance mail revenue sleep attendance
homework currency electricity gas fuel storage bandwidth spam mood maintenance interest payroll support access
activity luggage baggage furniture audio video speech footage
""".split())
_IRREGULAR = {"get": "got", "find": "found", "send": "sent", "set": "set", "buy": "bought", "make": "made",
              "run": "ran", "write": "wrote", "build": "built", "pay": "paid", "give": "gave", "take": "took",
              "put": "put", "read": "read", "split": "split", "reset": "reset", "forecast": "forecast",
              "withdraw": "withdrew", "freeze": "froze", "resell": "resold", "sell": "sold", "hold": "held",
              "begin": "began", "cut": "cut", "shut": "shut", "rebuild": "rebuilt", "lead": "led", "do": "did",
              "undo": "undid", "see": "saw", "win": "won", "broadcast": "broadcast", "upset": "upset",
              "rerun": "reran", "rewrite": "rewrote", "spend": "spent", "lend": "lent", "feed": "fed"}
_DOUBLE = frozenset("""
stop plan ship drop log tag map skip scan pin flag chat swap trim snap clip step top submit transfer admit commit
control refer prefer rob grab drag jog hug ban plug unplug zip unzip chop
""".split())
_SPLIT_VERBS = {"checkout": ["check", "out"], "lookup": ["look", "up"], "login": ["log", "in"],
                "logout": ["log", "out"], "setup": ["set", "up"], "signup": ["sign", "up"]}
_QUESTION_WORDS = frozenset("where what which how when who why whether".split())


class VerbPhrase(NamedTuple):
    """``verb`` (with its particle: "clock in"), ``object`` (the rest, as in the leaf) and the ``article`` a request
    puts between them ("a", "an", "the" or "")."""

    verb: str
    object: str
    article: str

    def text(self, article: str | None = None) -> str:
        """The phrase with ``article`` (default: its own) between verb and object: "book a flight"."""
        art = self.article if article is None else article
        return " ".join(w for w in (self.verb, art if self.object else "", self.object) if w)

    @property
    def head(self) -> str:
        """The object's last word, the noun the phrase is about ("details" in "get hotel details")."""
        return self.object.split()[-1] if self.object else ""

    @property
    def definite(self) -> str:
        """The object as a known thing: "the flight", "the hotel details" ("" without an object)."""
        first = self.object.split()[0].lower() if self.object else ""
        return self.object if not first or first in _NO_ARTICLE else f"the {self.object}"


def is_plural(word: str) -> bool:
    """Does ``word`` look like a plural noun ("providers", not "status" or "address")?"""
    w = word.lower()
    return len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is", "ics", "ous", "sis"))


def singular(word: str) -> str:
    """Naive singular of a plural noun: providers -> provider, addresses -> address, entries -> entry."""
    w = word
    if not is_plural(w):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "xes", "ches", "shes", "zes")):
        return w[:-2]
    return w[:-1]


def plural(label: str) -> str:
    """Naive plural of a label's last word: passenger email -> passenger emails, entry -> entries."""
    words = label.split()
    if not words:
        return label
    w = words[-1]
    if is_plural(w) or not w.isalpha():
        return label
    if w.endswith("y") and len(w) > 2 and w[-2] not in "aeiou":
        w = w[:-1] + "ies"
    elif w.endswith(("s", "x", "ch", "sh", "z")):
        w += "es"
    else:
        w += "s"
    return " ".join(words[:-1] + [w])


def indefinite(word: str) -> str:
    """"a" or "an" before ``word`` (by its first sound, roughly)."""
    w = word.lower()
    if w.startswith(("uni", "use", "usu", "uti", "eu", "one")):
        return "a"
    return "an" if w[:1] in "aeiou" or w.startswith(("hour", "honest")) else "a"


@functools.lru_cache(maxsize=8192)
def verb_phrase(leaf: str) -> VerbPhrase:
    """The verb phrase of a tree leaf with the article a request needs: "book flight" -> "book a flight", "get hotel
    details" -> "get the hotel details", "search flights" -> "search flights", "clock in" -> "clock in", "where to
    watch" -> "find out where to watch"."""
    words = leaf.strip().split()
    if not words:
        return VerbPhrase("do", "this", "")
    if words[0].lower() in _QUESTION_WORDS:
        return VerbPhrase("find out", " ".join(words), "")
    words = _SPLIT_VERBS.get(words[0].lower(), [words[0]]) + words[1:]
    n = 2 if len(words) > 1 and words[1].lower() in _PARTICLES else 1
    verb, obj = " ".join(words[:n]), " ".join(words[n:])
    if not obj or words[n].lower() in _NO_ARTICLE or any(c.isdigit() for c in words[n]):
        return VerbPhrase(verb, obj, "")
    head, first = obj.split()[-1].lower(), words[0].lower()
    if is_plural(head):
        return VerbPhrase(verb, obj, "" if first in _SEARCH or first in _CREATE else "the")
    if first in _CREATE:
        return VerbPhrase(verb, obj, "" if head in _MASS else indefinite(obj))
    return VerbPhrase(verb, obj, "the")


def past(verb: str) -> str:
    """Past tense of a verb (its first word; a particle is kept): book -> booked, get -> got, stop -> stopped,
    clock in -> clocked in."""
    first, _, rest = verb.partition(" ")
    w = first.lower()
    if w in _IRREGULAR:
        out = _IRREGULAR[w]
    elif w.endswith("e"):
        out = w + "d"
    elif re.search(r"[^aeiou]y$", w):
        out = w[:-1] + "ied"
    elif w in _DOUBLE:
        out = w + w[-1] + "ed"
    else:
        out = w + "ed"
    return f"{out} {rest}" if rest else out
