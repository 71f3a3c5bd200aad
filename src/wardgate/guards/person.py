"""Person names, offline: runs of capitalised words, read against the US Census name-frequency lists that the
``names`` package ships (MIT; 5,494 first names and 88,799 surnames from the 1990 census, public-domain data), and
against cues in front of them (a title, "my name is", a salutation). Which runs are names depends on the guard's
sensitivity (docs/guards.md, docs/decisions/049-names-addresses.md):

- a run after a title (``Mr``, ``Dr`` …) or a naming cue (``my name is``, ``Dear``, ``Attn:``): its leading
  capitalised words, whatever they are, up to three;
- a listed first name then a listed surname (``Jane Doe``, ``Jane Q. Doe``, ``Jane Mary Doe``), none of them a
  common word; not ``permissive``: or a surname-shaped word (``Laura Delić``, ``Albina Tomaszewska``);
- not ``permissive``: a listed first name alone after a weaker cue (``Hi``, ``Thanks``, ``I'm``, ``a man named``)
  or as a speaker's label at a line's start (``Vanessa: …``);
- ``strict`` only: a listed first name anywhere (``ask Jennifer``) and any capitalised word before a surname-shaped
  one (``Cecilie Josefsen``), at the cost of words that are also names.

The lists are read when a guard with the ``person`` entity is compiled (this module is imported only then)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import resources

from wardgate.guards.findings import Finding, Pattern, compile_rx

_TOKEN = r"\p{Lu}(?:\p{Ll}+|['’](?=\p{Lu}))(?:['’-]?\p{Lu}?\p{Ll}+)*"  # Jane, O'Brien, McDonald, Smith-Jones
_PART = rf"(?:{_TOKEN}|\p{{Lu}}\.?(?![\p{{L}}\p{{N}}]))"  # a word or a middle initial (with or without its dot)
# a run of capitalised words on one line, not glued to a longer word, an address or a path
_RUN = rf"(?<![\p{{L}}\p{{N}}_@/.\\-]){_PART}(?:[ \t]{{1,3}}{_PART}){{0,5}}(?![\p{{L}}\p{{N}}_@])"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


TITLES = _words(
    """
    Mr Mrs Ms Mx Miss Mister Madam Madame Dr Doctor Prof Professor Sir Dame Lady Lord Rev Reverend Fr Father Sr
    Sister Capt Captain Col Colonel Gen General Sgt Sergeant Lt Lieutenant Hon Judge Justice Officer Agent Nurse
    Herr Frau Mme Mlle Monsieur Señor Señora Sra Srta
    """
)
_TITLE_ABBREVIATIONS = _words("mr mrs ms mx dr prof rev fr sr capt col gen sgt lt hon mme mlle sra")
_NOUNS = ("customer", "client", "employee", "applicant", "contact", "patient", "full")
# what ends just before a name, lower-cased, the whitespace between them left out
_STRONG_TAILS = (
    *(t + "." for t in _TITLE_ABBREVIATIONS),
    *("my name is", "my name's", "dear", "attn", "attn:", "attn.:", "attention:", "signed:", "signed,"),
    *("sincerely,", "regards,", "yours,"),
    *(f"{noun} name{colon}" for noun in _NOUNS for colon in ("", ":")),
)
_WEAK_TAILS = tuple(
    cue + comma
    for cue in ("hi", "hello", "hey", "thanks", "thank you", "i am", "i'm", "this is", "ask", "tell", "cc", "cc:")
    # "named" and "called" name classes and files as often as people ("a class called UserService")
    + ("met", "meet", "name", "name:", "named", "called", "signed", "patient", "patient:")
    for comma in ("", ",")
)


def _cue(text: str, start: int) -> bool | None:
    """What ends just before ``start``: True for a title or a naming cue, False for a weaker cue, else None."""
    tail = text[max(0, start - 24) : start].rstrip().lower()
    for tails, strong in ((_STRONG_TAILS, True), (_WEAK_TAILS, False)):
        if tail.endswith(tails):
            for cue in tails:  # a whole word, not the end of one ("Ahmed." is no title)
                if tail.endswith(cue) and (len(tail) == len(cue) or not tail[-len(cue) - 1].isalnum()):
                    return strong
    return None


_CUE_WORDS = _words(
    """
    Dear Hi Hello Hey Thanks Attn Attention Signed Sincerely Regards Best Cheers Cc
    """
)
_STRONG_WORDS = _words(
    """
    Dear Attn Attention Signed
    """
)

# capitalised words that are common English (or tech) words more often than names: never part of a name found by
# the lists (the lists hold "Will", "May", "Code", "Street" …). Hand-written, from general English, not from any
# evaluation set.
STOP = _words(
    """
    A An The This That These Those It Its I Im Me My Mine We Our Us You Your He Him His She Her They Them Their Who
    Whom Whose What Which When Where Why How If Then Else So But And Or Nor Not No Yes Yet Also Just Only In On At
    To By For From With Without Into Onto Over Under Up Down Out Off Of As About After Before Since Until Is Are Was
    Were Be Been Being Am Do Does Did Done Have Has Had Can Could Will Would Shall Should May Might Must Let Lets
    Please Thanks Thank Hi Hello Hey Dear Best Regards Cheers Sincerely Kind Warm Yours Sorry Ok Okay Monday Tuesday
    Wednesday Thursday Friday Saturday Sunday Today Tomorrow Yesterday Tonight January February March April June
    July August September October November December Spring Fall Winter Christmas Easter New Old Big Little Good
    Great Grand Major Royal Saint St North South East West Northern Southern Eastern Western Central Upper Lower
    Main High Long Short Street Road Avenue Lane Drive Court Place Way Square Terrace Boulevard Park Hill Green
    Bridge Tower House Hall Garden Gardens Stream Apt Suite Unit Ave Blvd Rd Ln City Town County State States
    Republic Kingdom Union United Nations National International Global World University College School Academy
    Institute Hospital Clinic Center Centre Bank Church Museum Library Airport Station Hotel Company Corporation
    Corp Inc Ltd Llc Group Foundation Association Society Council Committee Department Ministry Office Agency
    Service Services Team Project Program Programme Club Party Court Press River Lake Beach Bay Island Islands
    Mountain Mountains Valley Forest Sea Ocean Gulf Coast Harbor Harbour Customer Customers Client Clients Colleague
    Colleagues Friend Friends Everyone All Members Member Valued Staff Support Manager Hiring Recruiter Candidate
    Applicant Sales Marketing Engineering Finance Legal Human Resources Post Times News Journal Review Daily Weekly
    Magazine Radio Organization Organisation Registrant Registration Registrar Private Public Domain Tech Billing
    Contact Privacy Redacted Protected Code File Files Test Tests Data User Users Server Client Link Cloud Power
    Table Page Error Key Value Model Class Type Types List Map Set Array String Number Object Function Method Field
    Form Input Output Name Names Note Notes Example Examples Step Steps Section Chapter Figure Appendix Version
    Release Build Debug Admin Crystal Julia Swift Rust Go Java Python Perl Pascal Ada Elixir Dart Kotlin Scala
    Haskell Lua Groovy Day America American English British French German Spanish Italian Chinese Japanese Indian
    European African Asian Christ God Lord Jesus Allah Buddha Console Tag Tags Requires Options Option Settings
    Config Docs
    """
)
# first names that are also common words or assistants' names: the first word of a full name ("Mark Jones"), never
# a name alone
AMBIGUOUS = _words(
    """
    Will May June April August Bill Mark Art Pat Rob Sue Guy Chase Hunter Miles Reed Jack Frank Earnest Ernest Grant
    Gene Drew Carol Christian Bishop Amber Ivy Jade Pearl Ruby Rose Lily Daisy Iris Violet Olive Hazel Holly Heather
    Dawn Joy Hope Faith Grace Mercy Charity Patience Honor Glory Sunny Rain Storm Sky Star Angel Destiny Harmony
    Melody Justice Liberty Autumn Summer Don Ray Mike Max Sam Ben Dean Lane Park Young King Rich Buck Gay Bob Eve
    Kim Ken Sonny Tom Tommy Van Lou Claude Alexa Siri Cortana Bard
    """
)


def _read(name: str) -> list[str]:
    text = resources.files("names").joinpath(name).read_text(encoding="ascii")
    return [line.split(None, 1)[0].capitalize() for line in text.splitlines() if line.strip()]


FIRST = frozenset(_read("dist.male.first") + _read("dist.female.first")) - STOP
LAST = frozenset(_read("dist.all.last")) - STOP
_INITIAL = compile_rx(r"\p{Lu}\.?")
# a surname the US lists may lack: a letter outside ASCII (Kovač), or an ending that surnames of many languages have
# and English words rarely do (Nielsen, Kowalska, Ivanov, Papadopoulos, Lindqvist …)
_SURNAME_SHAPE = compile_rx(
    r"[^\x00-\x7f]|\p{Ll}(?:sen|sson|ski|ska|sky|cki|cka|wicz|ova|ov|ev|eva|enko|chuk|yan|poulos|akis|idis|escu|elli|"
    r"etti|otti|ucci|dottir|stra|huis|berg|stein|mann|feld|qvist|gaard|ić)$"
)


def _base(word: str) -> str:
    """A word as the lists spell it: "O'Brien" → "Obrien", "Smith-Jones" → "Smith", "Jane's" → "Jane"."""
    word = word.split("-", 1)[0]
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    return word.replace("'", "").replace("’", "").capitalize()


@dataclass(frozen=True, slots=True)
class PersonPattern(Pattern):
    """The run regex finds candidates (and, in a stream, where one may still be growing); ``scan`` decides which
    words of a run are a name."""

    permissive: bool = False  # only names after a cue and first names with a listed surname

    def scan(self, text: str, strict: bool, out: list[Finding], hints: dict[object, bool] | None = None) -> None:
        level = 2 if strict else 0 if self.permissive else 1
        for m in self.rx.finditer(text):
            start, end = m.span()
            if " " in m.group() or "\t" in m.group():
                words = [w.span() for w in _WORD.finditer(text, start, end)]
            else:
                words = [(start, end)]  # most runs are one word
            found = _name(text, words, _cue(text, m.start()), level)
            if found is not None:
                out.append(Finding(self.entity, found[0], found[1], self))


_WORD = compile_rx(rf"{_PART}")


def _name(text: str, words: list[tuple[int, int]], cue: bool | None, level: int) -> tuple[int, int] | None:
    """The span of the name in a run of capitalised words, if any. ``cue``: what ends just before the run (True: a
    title or a naming cue, False: a weaker cue, None: neither); ``level`` 0: permissive, 1: balanced, 2: strict."""
    tokens = [text[s:e] for s, e in words]
    i, strong, weak = 0, False, False
    # leading titles and salutations inside the run ("Dear Mr Smith", "Dr Jane Doe") are cues, not the name
    while i < len(tokens) and (tokens[i] in TITLES or tokens[i] in _CUE_WORDS):
        strong = strong or tokens[i] in TITLES or tokens[i] in _STRONG_WORDS
        weak = True
        i += 1
    if i == len(tokens):
        return None
    if i == 0:
        strong, weak = cue is True, cue is not None
    rest = tokens[i:]
    bases = [_base(t) for t in rest]
    if strong:  # after a title or "my name is": the capitalised words that follow, whatever they are
        n = 0
        while n < len(rest) and n < 3 and rest[n] not in STOP:
            n += 1
        return (words[i][0], words[i + n - 1][1]) if n and not _INITIAL.fullmatch(rest[0]) else None
    for k in range(len(rest)):  # a first name, then initials and names, ending with a surname
        if bases[k] not in FIRST or rest[k] in STOP:
            continue
        end = None
        for j in range(k + 1, min(len(rest), k + 4)):
            if rest[j] in STOP:
                break
            if _INITIAL.fullmatch(rest[j]):
                continue
            if bases[j] in LAST or (level and _SURNAME_SHAPE.search(rest[j])):
                end = j
            elif bases[j] not in FIRST:
                break
        if end is not None:
            return words[i + k][0], words[i + end][1]
        if ((level and (weak or _label(text, words[i])) and k == 0) or level == 2) and rest[k] not in AMBIGUOUS:
            return words[i + k]
    # strict: a first name off the lists before a surname-shaped word (Cecilie Josefsen)
    shaped = len(rest) > 1 and rest[-1] not in STOP and _SURNAME_SHAPE.search(rest[-1]) is not None
    if level == 2 and shaped and rest[0] not in STOP and not _INITIAL.fullmatch(rest[0]):
        return words[i][0], words[-1][1]
    return None


def _label(text: str, word: tuple[int, int]) -> bool:
    """A speaker's label: the word starts a line and a colon follows it ("Vanessa: Who are you?")."""
    start, end = word
    return text[end : end + 1] == ":" and (start == 0 or text[start - 1] == "\n")


_PATTERN = PersonPattern(
    "person",
    compile_rx(_RUN),
    spaced=True,
    partial_hint=re.compile("[A-Z\u00c0-\u00de\u0100-\u024f]"),  # a capital, where a name starts
)
PATTERNS = {"strict": [_PATTERN], "balanced": [_PATTERN], "permissive": [replace(_PATTERN, permissive=True)]}
