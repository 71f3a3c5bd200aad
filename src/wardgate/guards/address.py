"""Postal addresses, offline, by their grammar rather than by a list of places: a house number, one to four
capitalised words and a street type (``221B Baker Street``, ``1600 Pennsylvania Ave NW``), with an optional unit
(``Apt. 4``, ``Suite 200``) and an optional town line ending in a US state and ZIP code or a UK postcode; a P.O. box;
US military mail (``PSC 1234, Box 5678 / APO AE 09001``); a continental street, named by a compound word
(``Hauptstraße 5``, ``Keizersgracht 12``, ``Storgatan 3``) or after a street noun (``Via Roma 1``, ``ul. Długa 5``,
``Calle Mayor 7``), and a French one (``12 rue de la Paix``), each with an optional postcode and town. A bare
street name, a town or a postcode alone is not found: without a house number and a street type nothing tells them
from other capitalised words and numbers.

Street types are those of USPS Publication 28 (appendix C1, the US postal standard) and a few British ones, written
out here from the standard (Faker's en_US street suffixes derive from the same standard: docs/decisions/047)."""

from __future__ import annotations

import re

from wardgate.guards.findings import DIGIT, Pattern, compile_rx


def _split(text: str) -> list[str]:
    return text.split()


_TYPES = _split(
    # USPS Publication 28, appendix C1: the primary street suffix names and their standard abbreviations
    "Alley Aly Annex Anx Arcade Arc Avenue Ave Av Bayou Byu Beach Bch Bend Bnd Bluff Blf Bluffs Blfs Bottom Btm "
    "Boulevard Blvd Branch Br Bridge Brg Brook Brk Brooks Brks Burg Bg Burgs Bgs Bypass Byp Camp Cp Canyon Cyn Cape "
    "Cpe Causeway Cswy Center Ctr Centers Ctrs Circle Cir Circles Cirs Cliff Clf Cliffs Clfs Club Clb Common Cmn "
    "Commons Cmns Corner Cor Corners Cors Course Crse Court Ct Courts Cts Cove Cv Coves Cvs Creek Crk Crescent Cres "
    "Crest Crst Crossing Xing Crossroad Xrd Crossroads Xrds Curve Curv Dale Dl Dam Dm Divide Dv Drive Dr Drives Drs "
    "Estate Est Estates Ests Expressway Expy Extension Ext Extensions Exts Falls Fls Ferry Fry Field Fld Fields Flds "
    "Flat Flt Flats Flts Ford Frd Fords Frds Forest Frst Forge Frg Forges Frgs Fork Frk Forks Frks Fort Ft Freeway "
    "Fwy Garden Gdn Gardens Gdns Gateway Gtwy Glen Gln Glens Glns Green Grn Greens Grns Grove Grv Groves Grvs Harbor "
    "Hbr Harbors Hbrs Haven Hvn Heights Hts Highway Hwy Hill Hl Hills Hls Hollow Holw Inlet Inlt Island Is Islands "
    "Iss Isle Junction Jct Junctions Jcts Key Ky Keys Kys Knoll Knl Knolls Knls Lake Lk Lakes Lks Land Landing Lndg "
    "Lane Ln Light Lgt Lights Lgts Loaf Lf Lock Lck Locks Lcks Lodge Ldg Loop Mall Manor Mnr Manors Mnrs Meadow Mdw "
    "Meadows Mdws Mews Mill Ml Mills Mls Mission Msn Motorway Mtwy Mount Mt Mountain Mtn Mountains Mtns Neck Nck "
    "Orchard Orch Oval Overpass Opas Park Parks Parkway Pkwy Parkways Pass Passage Psge Path Pike Pine Pne Pines Pnes "
    "Place Pl Plain Pln Plains Plns Plaza Plz Point Pt Points Pts Port Prt Ports Prts Prairie Pr Radial Radl Ramp "
    "Ranch Rnch Rapid Rpd Rapids Rpds Rest Rst Ridge Rdg Ridges Rdgs River Riv Road Rd Roads Rds Route Rte Row Rue "
    "Run Shoal Shl Shoals Shls Shore Shr Shores Shrs Skyway Skwy Spring Spg Springs Spgs Spur Square Sq Squares Sqs "
    "Station Sta Stravenue Stra Stream Strm Street St Streets Sts Summit Smt Terrace Ter Throughway Trwy Trace Trce "
    "Track Trak Trafficway Trfy Trail Trl Trailer Trlr Tunnel Tunl Turnpike Tpke Underpass Upas Union Un Unions Uns "
    "Valley Vly Valleys Vlys Viaduct Via Vis View Vw Views Vws Village Vlg Villages Vlgs Ville Vl Vista Walk Walks "
    "Wall Way Ways Well Wl Wells Wls "
    # British ones USPS has no entry for
    "Close Parade Esplanade Embankment Quay Wharf Broadway Wynd Rise"
)
# street types that are also common English nouns ("5 Easy Ways", "3 Day Pass", "Top 10 Views") make an address only
# with a unit or a town line; these, which headings rarely use, make one on their own
_CORE = (
    "Street St Avenue Ave Av Road Rd Drive Dr Lane Ln Boulevard Blvd Court Ct Place Pl Way Terrace Ter Circle Cir "
    "Parkway Pkwy Highway Hwy Square Sq Trail Trl Crescent Cres Close Grove Gardens Gdns Mews Row Alley Aly Plaza "
    "Plz Loop Pike Turnpike Tpke Expressway Expy Freeway Fwy Causeway Cswy Broadway Esplanade Embankment Parade Quay "
    "Wharf Wynd Heights Hts Ridge Rdg Creek Crk Hollow Holw Boulevard Stravenue Xing"
)
_STANDALONE = re.compile(r"\b(?:" + "|".join(_split(_CORE)) + r")\b")
_COMPLETED = re.compile(r"[,\n#]|\b(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|Bldg|Building|Lot)\b")
_FRENCH = re.compile(
    r"\d{1,4}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?i:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai|cours)\b"
)


def _numbered(value: str) -> bool:
    """A house-numbered street: its type stands on its own, or a unit or a town line follows it, or it is French."""
    return bool(_STANDALONE.search(value) or _COMPLETED.search(value) or _FRENCH.match(value))


_TYPE = "(?:" + "|".join(sorted(set(_TYPES), key=lambda t: (-len(t), t))) + r")\.?"
_DIR = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West|Northeast|Northwest|Southeast|Southwest)\.?"
_NUMBER = r"\d{1,6}(?:-\d{1,4})?[A-Za-z]?"
_WORD = r"(?:\p{Lu}[\p{L}'’.-]*|\d{1,3}(?:st|nd|rd|th))"  # Baker, O'Neil, 5th
_UNIT = (
    r"(?:,?[ \t]*\n?[ \t]*(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|Bldg|Building|Lot|\#)\.?[ \t]*\#?[ \t]*"
    r"[A-Za-z0-9-]{1,6}(?![\w-]))?"
)
_SEP = r"(?:,[ \t]*\n?[ \t]*|,?[ \t]*\n[ \t]*)"  # ", " or a line break between the street and the town
_TOWN = r"(?:\p{Lu}[\p{L}'’.-]*[ \t]+){0,3}\p{Lu}[\p{L}'’.-]*"
_US_STATE_ZIP = r"[A-Z]{2}(?:[ \t]+\d{5}(?:-\d{4})?)?(?![\w-])"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]*\d[A-Z]{2}(?!\w)"
_TOWN_LINE = rf"(?:{_SEP}{_TOWN},?[ \t]+(?:{_US_STATE_ZIP}|{_UK_POSTCODE}))?"
_B = r"(?<![\w.,/#-])"

_US_UK = (
    rf"{_NUMBER}[ \t]+(?:{_DIR}[ \t]+)?(?:{_WORD}[ \t]+){{1,4}}{_TYPE}(?:[ \t]+{_DIR}(?![\w]))?(?![\w-])"
    rf"{_UNIT}{_TOWN_LINE}"
)
_PO_BOX = rf"(?:P\.?[ \t]?O\.?|Post[ \t]+Office)[ \t]+Box[ \t]+\d{{1,6}}(?!\w){_TOWN_LINE}"
# a street named by a compound word (Hauptstraße, Keizersgracht, Storgatan, Mannerheimintie) or by a word after a
# street noun (Berliner Straße, Via Roma, Rua Augusta, ul. Długa, Calle Mayor), then the house number
_EU_TYPE_WORD = (
    r"(?:straße|strasse|weg|gasse|platz|allee|damm|ufer|straat|laan|plein|gracht|kade|singel|steeg|gatan|"
    r"vägen|gata|gränd|veien|vegen|gate|vej|gade|tie|katu|polku|utca|út)"
)
_EU_NOUN = (
    r"(?:Straße|Strasse|Str\.|Weg|Gasse|Platz|Allee|Via|Viale|Piazza|Piazzale|Corso|Largo|Vicolo|Rua|Avenida|Av\.|"
    r"Travessa|Praça|Calle|C/|Carrer|Plaza|Paseo|Camino|Avinguda|ul\.|Ulica|Aleja)"
)
_EU_NAME = r"(?:(?:de|del|della|di|da|do|dos|das|la|las|los|le|von|van|der)[ \t]+)?\p{Lu}[\p{L}'’.-]*"
_EU_TOWN = r"(?:,?[ \t]*\n?[ \t]*(?:\d{2}-?\d{3}|\d{4,5})[ \t]+\p{Lu}[\p{L}-]+(?:[ \t]+\p{Lu}[\p{L}-]+)?)?"
# USPS military and diplomatic mail: "PSC 1234, Box 5678 / APO AE 09001", "USNS Comfort / FPO AA 34001"
_MILITARY = (
    r"(?:(?:PSC|CMR|Unit)[ \t]+\d{1,5},?[ \t]+Box[ \t]+\d{1,5}|(?:USNS|USS|USCGC)[ \t]+\p{Lu}[\p{L}'’-]*"
    r"(?:[ \t]+\p{Lu}[\p{L}'’-]*)?)"
    r",?[ \t]*\n?[ \t]*(?:APO|FPO|DPO)[ \t]+A[AEP][ \t]+\d{5}(?:-\d{4})?(?!\w)"
)
_HOUSE = rf"[ \t]+\d{{1,4}}[a-zA-Z]?(?![\w-]){_UNIT}{_EU_TOWN}"
# the word is taken whole (possessive) and its ending tested behind it: no backtracking through every word
_COMPOUND = (
    rf"(?<![\p{{L}}-])\p{{Lu}}[\p{{L}}-]{{2,}}+(?:(?<=\p{{Ll}}{{3}}{_EU_TYPE_WORD})|(?<=\p{{Ll}}{{3}}str)\.|"
    rf"[ \t]+(?:Straße|Strasse|Str\.|Weg|Gasse|Platz|Allee)){_HOUSE}"
)
_NOUN_FIRST = rf"(?<![\p{{L}}-]){_EU_NOUN}[ \t]+{_EU_NAME}(?:[ \t]+{_EU_NAME}){{0,3}}{_HOUSE}"
_FR = (
    r"\d{1,4}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?i:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai|cours)"
    r"[ \t]+(?:(?:de[ \t]+la|de[ \t]+l'|des|du|de|d'|la|le|les)[ \t]*)?"
    r"\p{Lu}[\p{L}'’-]*(?:[ \t]+\p{Lu}[\p{L}'’-]*){0,3}"
    r"(?:,?[ \t]*\n?[ \t]*\d{5}[ \t]+\p{Lu}[\p{L}-]+)?"
)

# what the first characters of each kind of address hold (a stream looks for a partial one only then)
_CAPITAL = re.compile("[A-Z\u00c0-\u00de]")
PATTERNS = [  # one pass per first character kind: a regex costs about 20 µs per KB just to be tried everywhere
    Pattern("address", compile_rx(source), check, hint=DIGIT, spaced=True, partial_hint=starts)
    for source, check, starts in (
        (rf"{_B}(?:{_US_UK}|{_FR})", _numbered, DIGIT),
        (rf"{_B}(?:{_PO_BOX}|{_MILITARY})", None, re.compile("[PCU]")),
        (_COMPOUND, None, _CAPITAL),
        (_NOUN_FIRST, None, re.compile("[A-Zu]")),  # "ul. Długa"
    )
]
