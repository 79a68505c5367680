"""Static tables the fixtures draw from: marketplaces, currencies, words. No data files."""

from __future__ import annotations

import hashlib
import random
from typing import Final, NamedTuple


class Market(NamedTuple):
    """One of the 20 documented marketplaces."""

    country: str  # ISO alpha-2 of the exit IPs
    country_name: str
    currency: str
    per_usd: float  # rough exchange rate, for plausible magnitudes
    decimals: int  # 0 for currencies priced in whole units on Amazon
    language: str  # marketplace default
    metric: bool


MARKETS: Final[dict[str, Market]] = {
    "com": Market("US", "the United States", "USD", 1.0, 2, "en_US", False),
    "co.uk": Market("GB", "the United Kingdom", "GBP", 0.79, 2, "en_GB", True),
    "de": Market("DE", "Germany", "EUR", 0.92, 2, "de_DE", True),
    "fr": Market("FR", "France", "EUR", 0.92, 2, "fr_FR", True),
    "it": Market("IT", "Italy", "EUR", 0.92, 2, "it_IT", True),
    "es": Market("ES", "Spain", "EUR", 0.92, 2, "es_ES", True),
    "nl": Market("NL", "the Netherlands", "EUR", 0.92, 2, "nl_NL", True),
    "pl": Market("PL", "Poland", "PLN", 4.0, 2, "pl_PL", True),
    "se": Market("SE", "Sweden", "SEK", 10.5, 2, "sv_SE", True),
    "ca": Market("CA", "Canada", "CAD", 1.36, 2, "en_CA", True),
    "com.mx": Market("MX", "Mexico", "MXN", 17.5, 2, "es_MX", True),
    "com.br": Market("BR", "Brazil", "BRL", 5.0, 2, "pt_BR", True),
    "com.au": Market("AU", "Australia", "AUD", 1.52, 2, "en_AU", True),
    "co.jp": Market("JP", "Japan", "JPY", 150.0, 0, "ja_JP", True),
    "sg": Market("SG", "Singapore", "SGD", 1.35, 2, "en_SG", True),
    "in": Market("IN", "India", "INR", 83.0, 0, "en_IN", True),
    "com.tr": Market("TR", "Turkey", "TRY", 32.0, 2, "tr_TR", True),
    "ae": Market("AE", "the United Arab Emirates", "AED", 3.67, 2, "en_AE", True),
    "sa": Market("SA", "Saudi Arabia", "SAR", 3.75, 2, "ar_AE", True),
    "eg": Market("EG", "Egypt", "EGP", 48.0, 2, "ar_AE", True),
}

#: Languages each marketplace serves (API reference §6.2, inferred from Amazon's own menus);
#: enforced only with ``strict_languages=True``.
LANGUAGES: Final[dict[str, frozenset[str]]] = {
    dom: frozenset(langs.split())
    for dom, langs in {
        "com": "en_US es_US zh_CN pt_BR de_DE ko_KR he_IL ar_AE",
        "co.uk": "en_GB",
        "de": "de_DE en_GB nl_NL pl_PL tr_TR cs_CZ da_DK",
        "fr": "fr_FR en_GB",
        "it": "it_IT en_GB",
        "es": "es_ES pt_PT en_GB",
        "nl": "nl_NL en_GB",
        "pl": "pl_PL",
        "se": "sv_SE en_GB",
        "ca": "en_CA fr_CA",
        "com.mx": "es_MX",
        "com.br": "pt_BR",
        "com.au": "en_AU",
        "co.jp": "ja_JP en_US zh_CN",
        "sg": "en_SG",
        "in": "en_IN hi_IN ta_IN te_IN kn_IN ml_IN bn_IN mr_IN",
        "com.tr": "tr_TR",
        "ae": "en_AE ar_AE",
        "sa": "ar_AE en_AE",
        "eg": "ar_AE en_AE",
    }.items()
}


class Kind(NamedTuple):
    """A product family: nouns, USD price range, category ladder, variation dimension."""

    nouns: tuple[str, ...]
    usd: tuple[float, float]
    ladder: tuple[str, ...]
    dimension: str
    options: tuple[str, ...]
    material: str
    brands: tuple[str, ...]


KINDS: Final[tuple[Kind, ...]] = (
    Kind(
        ("Cookware Set", "Frying Pan", "Saucepan"),
        (25, 350),
        ("Home & Kitchen", "Kitchen & Dining", "Cookware"),
        "Size",
        ("8-Piece", "10-Piece", "14-Piece"),
        "Stainless Steel",
        ("LEGEND COOKWARE", "Tefal", "T-fal", "All-Clad", "Cuisinart"),
    ),
    Kind(
        ("Wireless Earbuds", "Over-Ear Headphones", "Bluetooth Speaker"),
        (19, 399),
        ("Electronics", "Headphones, Earbuds & Accessories", "Headphones"),
        "Color",
        ("Black", "White", "Midnight Blue", "Sage"),
        "Plastic",
        ("Soundcore", "Sony", "JBL", "Bose", "Skullcandy"),
    ),
    Kind(
        ("Running Shoes", "Trail Sneakers", "Walking Shoes"),
        (35, 180),
        ("Clothing, Shoes & Jewelry", "Men", "Shoes", "Athletic"),
        "Size",
        ("8", "9", "10", "11"),
        "Mesh",
        ("Brooks", "Nike", "ASICS", "New Balance", "Saucony"),
    ),
    Kind(
        ("Paperback Novel", "Cookbook", "Field Guide"),
        (7, 45),
        ("Books", "Literature & Fiction"),
        "Format",
        ("Paperback", "Hardcover", "Kindle"),
        "Paper",
        ("Penguin Books", "HarperCollins", "Vintage", "Lonely Planet"),
    ),
    Kind(
        ("USB-C Charger", "Power Bank", "Charging Cable"),
        (9, 89),
        ("Electronics", "Computers & Accessories", "Chargers & Adapters"),
        "Capacity",
        ("10000mAh", "20000mAh", "26800mAh"),
        "Aluminium",
        ("Anker", "UGREEN", "Belkin", "Baseus"),
    ),
    Kind(
        ("Yoga Mat", "Adjustable Dumbbells", "Resistance Bands"),
        (15, 420),
        ("Sports & Outdoors", "Exercise & Fitness", "Strength Training"),
        "Weight",
        ("5 lb", "25 lb", "52.5 lb"),
        "Rubber",
        ("Gaiam", "Bowflex", "Manduka", "CAP Barbell"),
    ),
    Kind(
        ("Robot Vacuum", "Air Purifier", "Cordless Stick Vacuum"),
        (89, 799),
        ("Home & Kitchen", "Vacuums & Floor Care", "Vacuums"),
        "Style",
        ("Standard", "Pro", "Max"),
        "ABS",
        ("iRobot", "Shark", "Levoit", "Coway", "Dyson"),
    ),
    Kind(
        ("LEGO Building Set", "Board Game", "Puzzle 1000 Pieces"),
        (12, 160),
        ("Toys & Games", "Building Toys", "Building Sets"),
        "Style",
        ("Classic", "Deluxe"),
        "Cardboard",
        ("LEGO", "Hasbro", "Ravensburger", "Mattel"),
    ),
)


def kind_index(asin: str) -> int:
    """Index in :data:`KINDS` of ``asin``'s family: its third character picks it (so search can
    steer it)."""
    return ALNUM.find(asin[2].upper()) % len(KINDS)


def kind_of(asin: str) -> Kind:
    """The product family of ``asin`` (see :func:`kind_index`)."""
    return KINDS[kind_index(asin)]


def kinds_for(query: str) -> list[int]:
    """Indexes of the families whose nouns or categories share a word with ``query``."""
    words = {w.rstrip("s") for w in query.lower().split() if len(w) > 2}
    found = []
    for i, kind in enumerate(KINDS):
        text = " ".join((*kind.nouns, *kind.ladder)).lower().replace(",", " ").replace("-", " ")
        if words & {w.rstrip("s") for w in text.split()}:
            found.append(i)
    return found


BRANDS: Final = (
    "LEGEND COOKWARE",
    "Soundcore",
    "Anker",
    "Brooks",
    "Penguin Books",
    "Bowflex",
    "iRobot",
    "LEGO",
    "Sony",
    "Hasbro",
    "Levoit",
    "Shark",
    "Gaiam",
    "UGREEN",
    "Nike",
    "HarperCollins",
    "Tefal",
    "JBL",
    "Coway",
    "Ravensburger",
)
ADJECTIVES: Final = (
    "Premium",
    "Professional",
    "Ultra-Light",
    "Compact",
    "Heavy-Duty",
    "Eco-Friendly",
    "Smart",
    "Classic",
    "Hybrid",
    "Foldable",
    "Ergonomic",
    "Advanced",
    "Portable",
    "Essential",
)
FEATURES: Final = (
    "BUILT TO LAST",
    "EASY TO CLEAN",
    "SATISFACTION GUARANTEED",
    "FAST AND EFFICIENT",
    "TRAVEL READY",
    "SAFE MATERIALS",
    "QUIET OPERATION",
    "DESIGNED FOR EVERYDAY USE",
    "PERFECT GIFT",
    "LONG BATTERY LIFE",
)
REVIEW_TITLES: Final = (
    "Exactly as described",
    "Great value for the money",
    "Stopped working after a month",
    "Would buy again",
    "Better than expected",
    "Decent but overpriced",
    "Five stars",
    "Not what I hoped for",
    "Solid quality",
)
AUTHORS: Final = (
    "J. Doe",
    "Amazon Customer",
    "Maria G.",
    "Kenji T.",
    "Priya S.",
    "Liam O'Brien",
    "Sofia R.",
    "Ahmed K.",
    "Emma W.",
    "Lukas M.",
    "Chen Wei",
    "Olivia P.",
)
STOCK: Final = (
    "In Stock",
    "In Stock",
    "In Stock",
    "Only 3 left in stock - order soon.",
    "Usually ships within 2 to 3 days.",
)
MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
ALNUM: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_IMG: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-"


def rng_for(*parts: object) -> random.Random:
    """A generator seeded by a stable hash of ``parts`` (never Python's salted ``hash``)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "big"))


def unit_hash(*parts: object) -> float:
    """A stable number in [0, 1) from ``parts``."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def fake_asin(rng: random.Random, kind: int | None = None) -> str:
    """A plausible ASIN (``B0`` + 8 letters/digits, never ending in 404), of family ``kind``."""
    while True:
        asin = "B0" + "".join(rng.choice(ALNUM) for _ in range(8))
        if kind is not None:
            asin = (
                asin[:2]
                + ALNUM[kind + len(KINDS) * rng.randrange(len(ALNUM) // len(KINDS))]
                + asin[3:]
            )
        if not asin.endswith("404"):
            return asin


def fake_seller_id(rng: random.Random) -> str:
    return "A" + "".join(rng.choice(ALNUM) for _ in range(12))


def image_url(rng: random.Random) -> str:
    ident = str(rng.randint(41, 81)) + "".join(rng.choice(_IMG[:62]) for _ in range(8)) + "L"
    return f"https://m.media-amazon.com/images/I/{ident}._AC_SL1500_.jpg"


def local_price(usd: float, market: Market) -> float:
    """A USD price in the marketplace's currency, rounded like shelf prices (x.99, 4980)."""
    value = usd * market.per_usd
    if market.decimals == 0:
        step = 10 if value < 10_000 else 100
        return int(max(step, round(value / step) * step) - (1 if market.currency == "INR" else 0))
    return round(max(1.0, float(round(value))) - 0.01, 2)
