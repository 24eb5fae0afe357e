"""Network and identity infrastructure of simulated accounts: countries, ASNs, IPs, cards, agents.

Everything here is vectorised: functions take a ``numpy.random.Generator`` and a row count and
return arrays. The tables are our own, loosely modelled on how the internet looks (residential
ISPs per country, cloud providers, campus networks); the ASNs are real public numbers, the IP
prefixes are arbitrary and only consistent within a simulation.
"""

from __future__ import annotations

import numpy as np
import polars as pl

_HEX = np.array([f"{i:02x}" for i in range(256)], dtype=object)

# country, UTC offset (hours, standard time), weight among benign users, residential/mobile ASNs
COUNTRIES: list[tuple[str, int, float, tuple[int, ...]]] = [
    ("US", -5, 0.28, (7922, 7018, 701, 20115, 22773)),
    ("US", -8, 0.10, (7922, 7018, 701, 20001)),
    ("CA", -5, 0.03, (577, 812, 6327)),
    ("BR", -3, 0.04, (27699, 28573, 18881)),
    ("MX", -6, 0.02, (8151, 13999)),
    ("GB", 0, 0.06, (2856, 5089, 5607)),
    ("DE", 1, 0.06, (3320, 3209, 6805)),
    ("FR", 1, 0.04, (3215, 12322, 5410)),
    ("ES", 1, 0.02, (3352, 12479)),
    ("PL", 1, 0.02, (5617, 12741)),
    ("RU", 3, 0.02, (12389, 8402, 25513)),
    ("TR", 3, 0.02, (9121, 34984)),
    ("IN", 5, 0.08, (55836, 9498, 45609)),
    ("SG", 8, 0.02, (4773, 9506)),
    ("CN", 8, 0.02, (4134, 4837, 9808)),
    ("HK", 8, 0.01, (4760, 9269)),
    ("VN", 7, 0.02, (7552, 45899)),
    ("ID", 7, 0.02, (7713, 17974)),
    ("JP", 9, 0.04, (4713, 2516, 17676)),
    ("KR", 9, 0.03, (4766, 9318)),
    ("AU", 10, 0.02, (1221, 4804)),
    ("NG", 1, 0.01, (29465, 36873)),
    ("EG", 2, 0.01, (8452, 24863)),
    ("AR", -3, 0.01, (7303, 22927)),
]

# cloud / hosting ASNs: (asn, country, tz)
DATACENTERS: list[tuple[int, str, int]] = [
    (16509, "US", -5),  # Amazon
    (14618, "US", -5),  # Amazon
    (15169, "US", -8),  # Google
    (8075, "US", -8),  # Microsoft
    (14061, "US", -5),  # DigitalOcean
    (24940, "DE", 1),  # Hetzner
    (16276, "FR", 1),  # OVH
    (63949, "US", -5),  # Akamai/Linode
    (45102, "SG", 8),  # Alibaba
    (20473, "US", -5),  # Vultr
]

# campus networks: (asn, country, tz, domain)
CAMPUSES: list[tuple[int, str, int, str]] = [
    (3, "US", -5, "mit.edu"),
    (32, "US", -8, "stanford.edu"),
    (25, "US", -8, "berkeley.edu"),
    (786, "GB", 0, "cam.ac.uk"),
    (559, "CH", 1, "ethz.ch"),
    (4538, "CN", 8, "tsinghua.edu.cn"),
    (2907, "JP", 9, "u-tokyo.ac.jp"),
    (9318, "KR", 9, "snu.ac.kr"),
    (55824, "IN", 5, "iitb.ac.in"),
    (1248, "DE", 1, "tum.de"),
]

# mobile carriers whose subscribers leave through carrier-grade NAT: (asn, country, tz)
CARRIERS: list[tuple[int, str, int]] = [
    (21928, "US", -5),  # T-Mobile USA
    (22394, "US", -5),  # Verizon Wireless (Cellco)
    (55836, "IN", 5),  # Reliance Jio
    (45609, "IN", 5),  # Bharti Airtel mobile
    (26599, "BR", -3),  # Vivo (Telefonica Brasil)
    (9644, "KR", 9),  # SK Telecom
]

# startup accelerators: (office ASN, country, tz) of the space where a batch signs up together
ACCELERATORS: list[tuple[int, str, int]] = [
    (7922, "US", -8),
    (2856, "GB", 0),
    (3320, "DE", 1),
    (55836, "IN", 5),
    (4773, "SG", 8),
]

MOBILE_USER_AGENTS = np.array(
    [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/129.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/128.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.0 Mobile/15E148 Safari/604.1",
    ],
    dtype=object,
)
MOBILE_USER_AGENTS_W = np.array([40, 30, 15, 15], dtype=float)

CONSUMER_DOMAINS = np.array(
    [
        "gmail.com",
        "outlook.com",
        "yahoo.com",
        "icloud.com",
        "hotmail.com",
        "proton.me",
        "qq.com",
        "163.com",
        "yandex.ru",
        "mail.ru",
        "gmx.de",
        "web.de",
        "naver.com",
        "orange.fr",
        "libero.it",
    ],
    dtype=object,
)
CONSUMER_DOMAIN_W = np.array([40, 14, 8, 8, 6, 3, 4, 2, 2, 2, 2, 2, 3, 2, 2], dtype=float)

# domains that throwaway / abused sign-ups use (edu/research/startup paths included)
THROWAWAY_DOMAINS = np.array(
    [
        "mailbox.edu.pl",
        "student-mail.edu.vn",
        "alumni.univ-online.edu",
        "research-lab.org",
        "ailab-startup.io",
        "quickmail.cc",
        "tmpbox.net",
        "labs-inc.ai",
        "proton.me",
        "gmail.com",
        "outlook.com",
        "edu-access.net",
        "univ-portal.edu.my",
        "founders-hq.dev",
        "scholar-mail.org",
    ],
    dtype=object,
)

USER_AGENTS_SDK = np.array(
    [
        "OpenAI/Python 1.40.6",
        "OpenAI/Python 1.51.2",
        "anthropic-python/0.34.2",
        "python-requests/2.32.3",
        "python-httpx/0.27.2",
        "OpenAI/JS 4.67.1",
        "node-fetch/1.0",
        "curl/8.5.0",
        "Go-http-client/2.0",
        "langchain-core/0.3.10",
        "llama-index/0.11.17",
        "okhttp/4.12.0",
    ],
    dtype=object,
)
USER_AGENTS_SDK_W = np.array([20, 18, 10, 12, 8, 10, 4, 4, 4, 5, 3, 2], dtype=float)

USER_AGENTS_BROWSER = np.array(
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/129.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.6 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/129.0 Mobile Safari/537.36",
    ],
    dtype=object,
)

AGENT_SDK_UA = "agentkit-sdk/2.3.1 (python 3.12)"

_COUNTRY_CODES = np.array([c[0] for c in COUNTRIES], dtype=object)
_COUNTRY_TZ = np.array([c[1] for c in COUNTRIES], dtype=np.int64)
_COUNTRY_W = np.array([c[2] for c in COUNTRIES], dtype=float)
_COUNTRY_W /= _COUNTRY_W.sum()
# flatten residential ASNs: one row per (country, asn)
_RES_ASN = np.array([a for c in COUNTRIES for a in c[3]], dtype=np.int64)
_RES_ASN_COUNTRY = np.array([i for i, c in enumerate(COUNTRIES) for _ in c[3]], dtype=np.int64)
_RES_START = np.cumsum([0] + [len(c[3]) for c in COUNTRIES])[:-1]
_RES_LEN = np.array([len(c[3]) for c in COUNTRIES], dtype=np.int64)


def _first_octet(asn: np.ndarray) -> np.ndarray:
    """A stable, plausible first octet for an ASN (1-223, avoiding 10/127/172/192)."""
    o = (asn * 2654435761 % 211) + 11
    return np.where(np.isin(o, (127, 172, 192)), o + 1, o)


def _second_octet(asn: np.ndarray, salt: np.ndarray) -> np.ndarray:
    return (asn * 40503 + salt * 97) % 256


def hex_ids(rng: np.random.Generator, n: int, prefix: str, nbytes: int = 8) -> np.ndarray:
    """``n`` opaque random ids like ``acct_3f9a...`` (vectorised)."""
    if n == 0:
        return np.array([], dtype=object)
    b = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    parts = _HEX[b]
    df = pl.DataFrame({f"c{i}": parts[:, i].astype(str) for i in range(nbytes)})
    return (
        df.select(pl.concat_str([pl.lit(prefix), *[pl.col(f"c{i}") for i in range(nbytes)]]))[:, 0]
        .to_numpy()
        .astype(object)
    )


def ipv4(asn: np.ndarray, salt: np.ndarray, host: np.ndarray) -> np.ndarray:
    """IPv4 strings inside the ASN's prefix: ``salt`` picks the /16, ``host`` the last two octets."""
    a = _first_octet(asn)
    b = _second_octet(asn, salt)
    c = (host // 254) % 256
    d = host % 254 + 1
    df = pl.DataFrame({"a": a, "b": b, "c": c, "d": d})
    return (
        df.select(pl.concat_str([pl.col("a"), pl.col("b"), pl.col("c"), pl.col("d")], separator="."))[:, 0]
        .to_numpy()
        .astype(object)
    )


def sample_countries(rng: np.random.Generator, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Indices into COUNTRIES drawn by benign-user weight (or ``weights``)."""
    w = _COUNTRY_W if weights is None else weights / weights.sum()
    return rng.choice(len(COUNTRIES), size=n, p=w)


def country_code(idx: np.ndarray) -> np.ndarray:
    return _COUNTRY_CODES[idx]


def country_tz(idx: np.ndarray) -> np.ndarray:
    return _COUNTRY_TZ[idx]


def residential_asn(rng: np.random.Generator, country_idx: np.ndarray) -> np.ndarray:
    """A residential ISP ASN in each country."""
    k = (rng.random(len(country_idx)) * _RES_LEN[country_idx]).astype(np.int64)
    return _RES_ASN[_RES_START[country_idx] + k]


def home_network(rng: np.random.Generator, country_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(asn, ip) of a stable home connection per row."""
    n = len(country_idx)
    asn = residential_asn(rng, country_idx)
    ip = ipv4(asn, rng.integers(0, 8, n), rng.integers(0, 65000, n))
    return asn, ip


def datacenter(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(asn, ip, country, tz) of cloud hosts."""
    k = rng.integers(0, len(DATACENTERS), n)
    asn = np.array([d[0] for d in DATACENTERS], dtype=np.int64)[k]
    country = np.array([d[1] for d in DATACENTERS], dtype=object)[k]
    tz = np.array([d[2] for d in DATACENTERS], dtype=np.int64)[k]
    ip = ipv4(asn, rng.integers(0, 4, n), rng.integers(0, 65000, n))
    return asn, ip, country, tz


def residential_proxy(
    rng: np.random.Generator, n: int, pool_seed: int, pool_size: int = 200_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotating residential proxy exits: (asn, ip, country) drawn fresh per request from a pool.

    The pool (``pool_seed``) is shared by everyone who buys from the same proxy provider, so two
    campaigns on one provider draw from the same exits.
    """
    exit_id = rng.integers(0, pool_size, n)
    prng = np.random.default_rng([pool_seed, 7])
    # exits lean to the big consumer markets, like commercial proxy networks
    exit_country = prng.choice(len(COUNTRIES), size=pool_size, p=_COUNTRY_W)
    exit_asn = residential_asn(prng, exit_country)
    exit_salt = prng.integers(0, 8, pool_size)
    exit_host = prng.integers(0, 65000, pool_size)
    asn = exit_asn[exit_id]
    ip = ipv4(asn, exit_salt[exit_id], exit_host[exit_id])
    return asn, ip, _COUNTRY_CODES[exit_country[exit_id]]


def weighted_choice(rng: np.random.Generator, values: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    return values[rng.choice(len(values), size=n, p=weights / weights.sum())]


def prefix_hosts(
    asn: np.ndarray, prefix_salt: np.ndarray, prefix_third: np.ndarray, host: np.ndarray
) -> np.ndarray:
    """IPv4 strings in fixed /24s: ``(asn, prefix_salt, prefix_third)`` pick the /24, ``host`` 0-253."""
    return ipv4(asn, prefix_salt, (prefix_third % 256) * 254 + host % 254)


def stable_hash(*parts: int | np.ndarray) -> np.ndarray:
    """A splitmix64 hash (uint64) of integer parts (scalars or arrays, broadcast together): the same
    parts, the same value, in any order of drawing (e.g. an account's address in one lease)."""
    arrays = [np.asarray(p, dtype=np.int64).view(np.uint64) for p in parts]
    h = np.zeros(np.broadcast(*arrays).shape, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for a in arrays:
            x = (h ^ a) + np.uint64(0x9E3779B97F4A7C15)
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = x ^ (x >> np.uint64(31))
    return h


def prefix24(ip: pl.Series) -> pl.Series:
    """The /24 prefix (``a.b.c``) of IPv4 strings."""
    return ip.str.extract(r"^(\d+\.\d+\.\d+)\.", 1)
