"""Populations: who the simulated accounts are and what traffic they send, one day at a time.

Each ``Population`` is built from a ``PopulationSpec`` (archetype + parameters). At construction it
draws its accounts (identity, sign-up, network, client, rates); ``day(d)`` then draws that day's
requests, vectorised over the whole population: which accounts are active, how many sessions, when
they start in the account's local time (diurnal and weekday curves), how many requests a session
holds and how far apart, how they group into conversations, and finally the request content.

Randomness: every population has its own seed sequence ``[seed, crc32(name)]`` and every day its
own generator, so adding a population or a day changes nothing else.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.simulate import adaptive_lookalikes, elicitation, infra, lookalikes
from distillguard.simulate import text as T
from distillguard.simulate.render import draw, ints, render
from distillguard.simulate.responses import synthesize
from distillguard.simulate.scenario import DATASET_CAPABILITIES, PopulationSpec, Scenario
from distillguard.simulate.vec import DAY_US, HOUR_US, _append, _choice, _const, _maybe, _str, _where

# local-hour activity curves (relative weights, hour 0..23)
PROFILES = {
    "human": [
        0.8,
        0.4,
        0.2,
        0.1,
        0.1,
        0.2,
        0.5,
        1.2,
        2.2,
        3.2,
        3.8,
        4.0,
        3.8,
        3.6,
        3.8,
        3.8,
        3.6,
        3.4,
        3.2,
        3.6,
        4.2,
        4.2,
        3.2,
        1.8,
    ],
    "developer": [
        1.2,
        0.7,
        0.4,
        0.2,
        0.1,
        0.1,
        0.2,
        0.6,
        1.6,
        3.2,
        4.2,
        4.4,
        3.6,
        3.8,
        4.4,
        4.6,
        4.4,
        3.8,
        2.8,
        2.6,
        3.0,
        3.2,
        2.8,
        2.0,
    ],
    "office": [
        0.1,
        0.05,
        0.05,
        0.05,
        0.05,
        0.1,
        0.3,
        1.0,
        3.0,
        4.6,
        5.0,
        4.8,
        3.4,
        4.2,
        4.8,
        4.6,
        4.0,
        2.6,
        1.0,
        0.5,
        0.4,
        0.3,
        0.2,
        0.1,
    ],
    "student": [
        1.6,
        0.9,
        0.4,
        0.1,
        0.05,
        0.05,
        0.1,
        0.4,
        1.2,
        2.4,
        3.0,
        3.2,
        2.8,
        3.0,
        3.4,
        3.6,
        3.8,
        3.6,
        3.4,
        3.8,
        4.4,
        4.8,
        4.4,
        3.0,
    ],
    "end_users": [
        0.7,
        0.5,
        0.4,
        0.35,
        0.35,
        0.45,
        0.7,
        1.0,
        1.2,
        1.35,
        1.4,
        1.4,
        1.35,
        1.35,
        1.4,
        1.4,
        1.35,
        1.3,
        1.3,
        1.35,
        1.3,
        1.2,
        1.0,
        0.85,
    ],
    "flat": [1.0] * 24,
}
PROFILES = {k: np.asarray(v) / np.sum(v) for k, v in PROFILES.items()}
# weekday multipliers Mon..Sun
WEEKDAYS = {
    "human": [1.0, 1.0, 1.0, 1.0, 0.95, 0.85, 0.9],
    "developer": [1.0, 1.0, 1.0, 1.0, 0.95, 0.5, 0.45],
    "office": [1.0, 1.0, 1.0, 1.0, 0.95, 0.12, 0.08],
    "student": [1.0, 1.0, 1.0, 0.95, 0.8, 0.45, 0.75],
    "shift": [1.0, 1.0, 1.0, 1.0, 1.0, 0.7, 0.3],  # contract work: six days a week, a short Sunday
    "flat": [1.0] * 7,
}

# output-token lognormal (mu, sigma): "chat" and "completion" fitted to the Azure 2023 LLM inference
# traces (conversation: GeneratedTokens log-mean 5.02, log-sd 0.86; code: 2.79, 0.85); the others
# are our assumptions.
OUTPUT_TOKENS = {
    "chat": (5.02, 0.86),
    "completion": (2.79, 0.85),
    "cot": (6.9, 0.55),
    "short": (2.3, 0.6),
    "agent": (5.4, 0.8),
    "json": (4.2, 0.5),
}


@dataclass(frozen=True)
class Behaviour:
    profile: str
    weekday: str
    per_session: float  # mean requests per session
    gap_median_s: float  # median gap between requests of a session
    gap_sigma: float
    conv: str  # session | single | agent
    rate_sigma: float  # per-account heterogeneity of the daily rate (lognormal sigma)


BEHAVIOUR = {
    "casual": Behaviour("human", "human", 3.0, 70, 0.8, "session", 0.7),
    "power_user": Behaviour("developer", "developer", 5.0, 45, 1.0, "session", 0.6),
    "app_backend": Behaviour("end_users", "flat", 1.0, 1, 0.5, "single", 0.8),
    "batch_job": Behaviour("office", "office", 1.0, 0.8, 0.6, "single", 0.5),
    "eval_harness": Behaviour("developer", "developer", 1.0, 1.5, 0.5, "single", 0.4),
    "agent_sdk_user": Behaviour("developer", "developer", 6.0, 12, 0.9, "agent", 0.7),
    "university_class": Behaviour("student", "student", 3.0, 90, 0.8, "session", 0.5),
    "corporate_team": Behaviour("office", "office", 3.0, 60, 0.9, "session", 0.5),
    "startup_cohort": Behaviour("developer", "developer", 4.0, 20, 1.0, "single", 0.8),
    "carrier_nat": Behaviour("human", "human", 3.0, 70, 0.8, "session", 0.7),
    "research_lab": Behaviour("flat", "flat", 50.0, 2.0, 0.5, "single", 0.3),
    "reward_model_vendor": Behaviour("flat", "flat", 40.0, 1.0, 0.6, "single", 0.2),
    "reseller_customers": Behaviour("developer", "developer", 3.0, 45, 0.9, "session", 0.8),
    # campaigns: scripts pace their requests; hydra accounts are quiet and spread over the day
    "hydra": Behaviour("flat", "flat", 4.0, 25, 1.2, "single", 0.3),
    "cot_harvest": Behaviour("flat", "flat", 6.0, 8, 1.0, "single", 0.3),
    "capability_sweep": Behaviour("flat", "flat", 5.0, 10, 1.0, "single", 0.3),
    "paraphrase": Behaviour("flat", "flat", 5.0, 15, 1.0, "single", 0.3),
    "low_and_slow": Behaviour("human", "human", 1.5, 120, 0.8, "single", 0.3),
    # a person's pace: a few requests a sitting, a minute or two apart, weekdays and weekends alike
    "adaptive": Behaviour("human", "human", 4.0, 75, 1.0, "single", 0.3),
    # look-alikes of adaptive campaigns (adaptive_lookalikes.py)
    "tutoring_product": Behaviour("student", "student", 3.0, 50, 0.9, "session", 1.0),
    "ml_researcher": Behaviour("developer", "developer", 40.0, 4.0, 0.8, "single", 0.9),
    "labelling_contractor": Behaviour("flat", "shift", 3.0, 120, 0.8, "session", 0.5),
    "content_agency": Behaviour("office", "office", 6.0, 40, 0.8, "single", 0.7),
}
BENIGN_TIERS = {
    "casual": (["free", "pro"], [0.72, 0.28]),
    "power_user": (["pro", "free", "startup"], [0.6, 0.25, 0.15]),
    "app_backend": (["enterprise", "startup", "pro"], [0.4, 0.4, 0.2]),
    "batch_job": (["enterprise", "pro", "startup"], [0.5, 0.3, 0.2]),
    "eval_harness": (["research", "enterprise", "pro"], [0.5, 0.3, 0.2]),
    "agent_sdk_user": (["pro", "free"], [0.55, 0.45]),
    "university_class": (["edu"], [1.0]),
    "corporate_team": (["enterprise"], [1.0]),
    "startup_cohort": (["startup"], [1.0]),
    "carrier_nat": (["free", "pro"], [0.75, 0.25]),
    "research_lab": (["research"], [1.0]),
    "reward_model_vendor": (["enterprise"], [1.0]),
    "reseller_customers": (["pro", "free", "startup"], [0.55, 0.3, 0.15]),
    "tutoring_product": (["startup", "enterprise", "pro"], [0.5, 0.2, 0.3]),
    "ml_researcher": (["pro", "research", "free"], [0.45, 0.35, 0.2]),
    "labelling_contractor": (["pro", "free"], [0.7, 0.3]),
    "content_agency": (["pro", "startup"], [0.7, 0.3]),
}
CAMPAIGN_TIERS = {
    "hydra": (["edu", "research", "startup", "free"], [0.35, 0.25, 0.25, 0.15]),
    "cot_harvest": (["pro", "free", "startup"], [0.5, 0.3, 0.2]),
    "capability_sweep": (["startup", "research", "pro"], [0.4, 0.3, 0.3]),
    "paraphrase": (["pro", "free"], [0.6, 0.4]),
    "low_and_slow": (["pro", "free"], [0.8, 0.2]),
    # with a card; accounts without one (no_card_share) are on the free tier, like everyone's
    "adaptive": (["pro", "startup"], [0.85, 0.15]),
}
#: benign archetypes whose accounts and content are built by a look-alike module
LOOKALIKE_ACCOUNTS = {**lookalikes.ACCOUNTS, **adaptive_lookalikes.ACCOUNTS}
LOOKALIKE_CONTENT = {**lookalikes.CONTENT, **adaptive_lookalikes.CONTENT}
#: max_tokens of ordinary API requests (-1: not set) and how often each is used
MAX_TOKENS_MIX = ([-1, 1024, 2048, 4096, 512], [0.45, 0.2, 0.15, 0.12, 0.08])
#: temperatures ordinary accounts set
TEMPERATURE_MIX = ([1.0, 0.7, 0.0, 0.2, 0.5], [0.45, 0.3, 0.1, 0.08, 0.07])
STATUS = np.array(["ok", "error", "rate_limited"], dtype=object)
STATUS_P = np.array([0.987, 0.004, 0.009])


class Population:
    """One scenario population; ``accounts()`` and ``day(d)`` give its tables."""

    def __init__(
        self, spec: PopulationSpec, scenario: Scenario, bank: T.TextBank, seed: int, responses: bool = False
    ):
        self.spec = spec
        self.responses = responses
        self.sc = scenario
        self.bank = bank
        self.seed = seed
        self.key = zlib.crc32(spec.name.encode("utf-8"))
        self.arch = spec.archetype
        self.beh = BEHAVIOUR[self.arch]
        self.t0 = int(dt.datetime.combine(scenario.start, dt.time(), dt.UTC).timestamp()) * 1_000_000
        self.start_weekday = scenario.start.weekday()
        self.days = scenario.days
        models = scenario.models
        self.model_names = np.asarray([models["default"], *models["others"]], dtype=object)
        self.release = models["release"] or None
        self.release_us = self.t0 + models["release_day"] * DAY_US if self.release else None
        rng = np.random.default_rng([seed, self.key, 0xACC0])
        self.st = self._accounts(rng)
        self.n = len(self.st["account_id"])

    # ----------------------------------------------------------------------------------- accounts

    def _accounts(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        sp = self.spec
        n = sp["accounts"]
        st: dict[str, np.ndarray] = {}
        if self.arch in CAMPAIGN_TIERS:
            n_standby = sp["standby_accounts"] if sp["failover_day"] != -1 else 0
            total = n + n_standby
            st["pool"] = np.array(["primary"] * n + ["standby"] * n_standby, dtype=object)
        else:
            total = n
            st["pool"] = np.full(total, None, dtype=object)
        st["account_id"] = infra.hex_ids(rng, total, "acct_", 8)
        st["rate_mult"] = rng.lognormal(-0.5 * self.beh.rate_sigma**2, self.beh.rate_sigma, total)
        pa = (
            np.clip(sp["active"] + rng.normal(0, 0.12, total), 0.02, 1.0)
            if sp["active"] < 1
            else np.ones(total)
        )
        st["p_active"] = pa
        end = self.days - 1 if sp["end_day"] == -1 else min(sp["end_day"], self.days - 1)
        st["start_day"] = np.full(total, sp["start_day"], dtype=np.int64)
        st["end_day"] = np.full(total, end, dtype=np.int64)
        st["api_key"] = infra.hex_ids(rng, total, "key_", 6)
        st["org_id"] = infra.hex_ids(rng, total, "org_", 6)
        st["group"] = np.zeros(total, dtype=np.int64)
        st["sys"] = np.zeros(total, dtype=np.int64)
        st["model_pref"] = rng.choice(
            len(self.model_names), size=total, p=_model_weights(len(self.model_names))
        )
        adopt = rng.exponential(1.0 / max(self.sc.models["benign_adoption_per_day"], 1e-6), total)
        st["adopt_us"] = (self.release_us or 0) + (adopt * DAY_US).astype(np.int64)
        st["temp"] = _choice(rng, [1.0, 0.7, 0.0, 0.2, 0.5], [0.45, 0.3, 0.1, 0.08, 0.07], total).astype(
            float
        )
        if self.arch in CAMPAIGN_TIERS:
            self._campaign_accounts(rng, st, n, total)
        else:
            self._benign_accounts(rng, st, total)
        return st

    def _signup_spread(self, rng: np.random.Generator, n: int, max_age_days: float) -> np.ndarray:
        """Sign-up times spread over the past, ~5% during the window (new users)."""
        age = rng.uniform(1, max_age_days, n) * DAY_US
        created = self.t0 - age.astype(np.int64)
        new = rng.random(n) < 0.05
        created[new] = self.t0 + (rng.uniform(0, max(self.days - 1, 1), new.sum()) * DAY_US).astype(np.int64)
        return created

    def _benign_accounts(self, rng: np.random.Generator, st: dict, n: int) -> None:
        arch = self.arch
        tiers, tp = BENIGN_TIERS[arch]
        st["tier"] = _choice(rng, tiers, tp, n)
        cidx = infra.sample_countries(rng, n)
        st["tz"] = infra.country_tz(cidx)
        st["country"] = infra.country_code(cidx)
        asn, ip = infra.home_network(rng, cidx)
        st["asn"], st["ip"] = asn, ip
        st["email_domain"] = infra.weighted_choice(rng, infra.CONSUMER_DOMAINS, infra.CONSUMER_DOMAIN_W, n)
        pay = infra.hex_ids(rng, n, "pf_", 8)
        st["payment"] = np.where(st["tier"] == "free", None, pay).astype(object)
        st["created"] = self._signup_spread(rng, n, 700)
        st["verified"] = np.isin(st["tier"], ["enterprise", "startup", "research"]) | (rng.random(n) < 0.3)
        st["ua"] = infra.weighted_choice(rng, infra.USER_AGENTS_SDK, infra.USER_AGENTS_SDK_W, n)
        st["org_id"] = _maybe(rng, st["org_id"], 0.5 if arch == "casual" else 0.0)
        moved = rng.random(n) < 0.3  # signed up from another address of the same ISP
        st["signup_ip"] = np.where(
            moved, infra.ipv4(asn, rng.integers(0, 8, n), rng.integers(0, 65000, n)), ip
        )
        st["signup_country"] = st["country"].copy()
        st["cot_habit"] = np.zeros(n, dtype=bool)
        if arch == "casual":
            st["ua"] = np.where(
                rng.random(n) < 0.55, infra.USER_AGENTS_BROWSER[rng.integers(0, 5, n)], st["ua"]
            )
        elif arch == "power_user":
            st["cot_habit"] = rng.random(n) < self.spec["cot_habit"]
        elif arch in ("app_backend", "batch_job"):
            asn, ip, country, tz = infra.datacenter(rng, n)
            st["asn"], st["ip"], st["country"], st["tz"] = asn, ip, country, tz
            st["sys"] = rng.integers(0, 1 << 30, n)
            st["cot_sys"] = rng.random(n) < self.spec.params.get("cot_system_share", 0.0)
            st["react"] = rng.random(n) < 0.4
            st["temp"] = _choice(rng, [0.0, 0.2, 0.3, 0.7], [0.3, 0.3, 0.2, 0.2], n).astype(float)
            st["model_pref"] = np.where(rng.random(n) < 0.4, 1, st["model_pref"])
            if arch == "batch_job":
                st["temp"] = np.zeros(n)
                st["sys"] = rng.integers(0, len(T.BATCH_INSTRUCTIONS), n)
        elif arch == "eval_harness":
            dc = rng.random(n) < 0.6
            asn, ip, country, tz = infra.datacenter(rng, n)
            st["asn"] = np.where(dc, asn, st["asn"])
            st["ip"] = np.where(dc, ip, st["ip"])
            st["temp"] = np.zeros(n)
            st["ua"] = _choice(
                rng,
                ["python-httpx/0.27.2", "OpenAI/Python 1.51.2", "lm-eval-harness/0.4.5"],
                [0.3, 0.3, 0.4],
                n,
            )
        elif arch == "agent_sdk_user":
            st["ua"] = np.full(n, infra.AGENT_SDK_UA, dtype=object)
            st["sys"] = rng.integers(0, 3, n)  # environment string variant
            st["temp"] = np.full(n, 0.2)
        elif arch == "university_class":
            self._classes(rng, st, n)
        elif arch == "corporate_team":
            self._teams(rng, st, n)
        elif arch in LOOKALIKE_ACCOUNTS:
            LOOKALIKE_ACCOUNTS[arch](self, rng, st, n)
        if self.spec.params.get("dynamic_ip_share", 0.0) > 0:  # ISPs that re-assign home addresses
            drng = np.random.default_rng([self.seed, self.key, 0xD1B])
            self._dynamic_addresses(drng, st, self.spec["ip_change_days"])
            st["dyn"] = drng.random(n) < self.spec["dynamic_ip_share"]
            every = np.arange(n)
            st["ip"] = np.where(st["dyn"], self._dynamic_ip(every, np.full(n, self.t0), st), st["ip"])
            st["signup_ip"] = np.where(st["dyn"], self._dynamic_ip(every, st["created"], st), st["signup_ip"])

    def _classes(self, rng: np.random.Generator, st: dict, n: int) -> None:
        g = self.spec["group_size"]
        groups = np.arange(n) // g
        k = groups.max() + 1
        campus = rng.integers(0, len(infra.CAMPUSES), k)
        c_asn = np.array([c[0] for c in infra.CAMPUSES])[campus]
        c_cty = np.array([c[1] for c in infra.CAMPUSES], dtype=object)[campus]
        c_tz = np.array([c[2] for c in infra.CAMPUSES])[campus]
        c_dom = np.array([c[3] for c in infra.CAMPUSES], dtype=object)[campus]
        c_salt = rng.integers(0, 8, k)
        week_start = self.t0 - (rng.uniform(0, 20, k) * DAY_US).astype(np.int64)
        st["group"] = groups
        st["asn"] = c_asn[groups]
        st["country"] = c_cty[groups]
        st["signup_country"] = st["country"].copy()
        st["tz"] = c_tz[groups]
        st["email_domain"] = c_dom[groups]
        # campus NAT: a handful of egress addresses per campus
        st["ip"] = infra.ipv4(st["asn"], c_salt[groups], rng.integers(0, 6, n))
        # weekly lab slots per class (indexed by group): weekdays and a local starting hour
        labs = max(1, int(self.spec["labs_per_week"]))
        st["lab_wd"] = np.argsort(rng.random((k, 7)), axis=1)[:, :labs]
        st["lab_hour"] = rng.integers(9, 17, k).astype(np.float64)
        st["signup_ip"] = st["ip"].copy()
        st["created"] = week_start[groups] + (rng.uniform(0, 7, n) * DAY_US).astype(np.int64)
        st["payment"] = np.full(n, None, dtype=object)
        st["verified"] = rng.random(n) < 0.5
        st["ua"] = infra.USER_AGENTS_BROWSER[rng.integers(0, 5, n)]

    def _teams(self, rng: np.random.Generator, st: dict, n: int) -> None:
        g = self.spec["group_size"]
        groups = np.arange(n) // g
        k = groups.max() + 1
        domains = (
            render(
                rng,
                ["{a}{b}.com", "{a}-{b}.io", "{a}{b}.co"],
                k,
                {
                    "a": ["north", "blue", "apex", "quant", "terra", "nova", "bright", "stone", "river"],
                    "b": ["wind", "labs", "works", "sys", "data", "logic", "forge", "point", "ware"],
                },
            )
            .to_numpy()
            .astype(object)
        )
        suffix = infra.hex_ids(rng, k, "", 2)
        domains = np.array(
            [f"{d.split('.')[0]}{s}.{d.split('.', 1)[1]}" for d, s in zip(domains, suffix, strict=True)],
            dtype=object,
        )
        cards = infra.hex_ids(rng, k, "pf_", 8)
        orgs = infra.hex_ids(rng, k, "org_", 6)
        cidx = infra.sample_countries(rng, k)
        o_asn, o_ip = infra.home_network(rng, cidx)
        st["group"] = groups
        st["email_domain"] = domains[groups]
        st["payment"] = cards[groups]
        st["org_id"] = orgs[groups]
        st["country"] = infra.country_code(cidx)[groups]
        st["signup_country"] = st["country"].copy()
        st["tz"] = infra.country_tz(cidx)[groups]
        st["asn"] = o_asn[groups]
        st["ip"] = o_ip[groups]  # office egress
        st["signup_ip"] = st["ip"].copy()
        st["verified"] = np.ones(n, dtype=bool)

    def _campaign_accounts(self, rng: np.random.Generator, st: dict, n: int, total: int) -> None:
        sp = self.spec
        tiers, tp = CAMPAIGN_TIERS[self.arch]
        st["tier"] = _choice(rng, tiers, tp, total)
        st["verified"] = rng.random(total) < {"low_and_slow": 0.6, "adaptive": 0.3}.get(self.arch, 0.15)
        standby = st["pool"] == "standby"
        fd = sp["failover_day"]
        if fd != -1:
            banned = np.zeros(total, dtype=bool)
            banned[:n] = rng.random(n) < sp.params.get("failover_share", 1.0)
            st["end_day"] = np.where(banned, fd - 1, st["end_day"])
            st["start_day"] = np.where(standby, fd, st["start_day"])
        # the knobs draw from a generator of their own: turning one on leaves the other draws alone
        krng = np.random.default_rng([self.seed, self.key, 0xADA])
        # sign-up: spread over months, bursts through the cheap paths, or aged accounts
        first_day = st["start_day"]
        if sp["signup_spread_days"] > 0:
            age = sp["account_age_days"] + krng.uniform(0, sp["signup_spread_days"], total)
            st["created"] = self.t0 + first_day * DAY_US - (age * DAY_US).astype(np.int64)
        elif sp["account_age_days"] > 0:
            age = sp["account_age_days"] + rng.exponential(120, total)
            st["created"] = self.t0 + first_day * DAY_US - (age * DAY_US).astype(np.int64)
        elif sp["signup_bursts"] > 0:
            nb = sp["signup_bursts"]
            centers_p = (
                self.t0 + sp["start_day"] * DAY_US - (rng.uniform(1, 10, nb) * DAY_US).astype(np.int64)
            )
            centers_s = self.t0 + max(fd, 0) * DAY_US - (rng.uniform(1, 4, nb) * DAY_US).astype(np.int64)
            b = rng.integers(0, nb, total)
            centers = np.where(standby, centers_s[b], centers_p[b])
            st["created"] = centers + rng.normal(0, 1.5 * HOUR_US, total).astype(np.int64)
        else:
            st["created"] = (
                self.t0 + first_day * DAY_US - (rng.uniform(1, 60, total) * DAY_US).astype(np.int64)
            )
        # payment: virtual cards shared by small groups (pools never share cards)
        g = sp["card_group"]
        groups = np.empty(total, dtype=np.int64)
        offset = 0
        for members in (np.flatnonzero(~standby), np.flatnonzero(standby)):  # pools never share a card
            groups[members[rng.permutation(len(members))]] = offset + np.arange(len(members)) // g
            offset = int(groups[members].max()) + 1 if len(members) else offset
        cards = infra.hex_ids(rng, int(groups.max()) + 1, "pf_", 8)
        st["payment"] = cards[groups]
        st["group"] = groups
        if sp["no_card_share"] > 0:  # no payment instrument at all: the free tier
            no_card = krng.random(total) < sp["no_card_share"]
            st["payment"] = np.where(no_card, None, st["payment"]).astype(object)
            st["tier"] = np.where(no_card, "free", st["tier"]).astype(object)
        # e-mail
        if self.arch in ("low_and_slow", "adaptive"):
            st["email_domain"] = infra.weighted_choice(
                rng, infra.CONSUMER_DOMAINS, infra.CONSUMER_DOMAIN_W, total
            )
        else:
            st["email_domain"] = infra.THROWAWAY_DOMAINS[rng.integers(0, len(infra.THROWAWAY_DOMAINS), total)]
        # network
        net = sp["network"]
        cidx = infra.sample_countries(rng, total)
        st["tz"] = infra.country_tz(cidx)
        st["country"] = infra.country_code(cidx)
        if net == "home":
            st["asn"], st["ip"] = infra.home_network(rng, cidx)
            st["signup_ip"] = st["ip"].copy()
            st["signup_country"] = st["country"].copy()
            st["ua"] = infra.weighted_choice(rng, infra.USER_AGENTS_SDK, infra.USER_AGENTS_SDK_W, total)
        elif net == "sticky_residential":  # a consumer ISP re-assigns each account's address now and then
            st["asn"] = infra.residential_asn(krng, cidx)
            self._dynamic_addresses(krng, st, sp["ip_change_days"])
            st["ip"] = self._dynamic_ip(np.arange(total), np.full(total, self.t0), st)
            st["signup_ip"] = self._dynamic_ip(np.arange(total), st["created"], st)
            st["signup_country"] = st["country"].copy()
            sdk = infra.weighted_choice(krng, infra.USER_AGENTS_SDK, infra.USER_AGENTS_SDK_W, total)
            browser = infra.USER_AGENTS_BROWSER[krng.integers(0, len(infra.USER_AGENTS_BROWSER), total)]
            st["ua"] = np.where(krng.random(total) < 0.4, browser, sdk)
        elif net == "datacenter":
            asn, ip, country, _tz = infra.datacenter(rng, total)
            st["asn"], st["ip"], st["country"] = asn, ip, country
            st["signup_ip"] = infra.home_network(rng, cidx)[1]
            st["signup_country"] = infra.country_code(cidx)
            st["ua"] = _choice(rng, ["OpenAI/Python 1.40.6", "python-httpx/0.27.2"], [0.7, 0.3], total)
        else:  # residential proxy
            pool_seed = zlib.crc32(f"{sp['campaign']}".encode())
            asn, ip, country = infra.residential_proxy(rng, total, pool_seed)
            st["asn"], st["ip"], st["country"] = asn, ip, country
            st["signup_ip"] = ip
            st["signup_country"] = country
            st["ua"] = _choice(
                rng,
                [
                    "OpenAI/Python 1.40.6",
                    "OpenAI/Python 1.51.2",
                    "python-requests/2.32.3",
                    "OpenAI/JS 4.67.1",
                ],
                [0.4, 0.3, 0.2, 0.1],
                total,
            )
        st["org_id"] = _maybe(rng, st["org_id"], 0.6)
        st["temp"] = np.full(total, sp["temperature"])
        if self.arch != "adaptive":  # harvest scripts stay on the default model; adaptive: cover differs
            st["model_pref"] = np.zeros(total, dtype=np.int64)
        st["cot_habit"] = np.zeros(total, dtype=bool)
        self._knob_accounts(krng, st, total)
        # per campaign constants
        crng = np.random.default_rng([self.seed, self.key, 0xC0])
        self.injected = T.INJECTED[int(crng.integers(0, len(T.INJECTED)))]
        if self.bank.meta_systems.size and crng.random() < 0.5:
            self.injected = str(self.bank.meta_systems[int(crng.integers(0, self.bank.meta_systems.size))])
        self.injected_in_system = bool(crng.random() < 0.6)
        self.tool_count = int(crng.integers(5, 13))
        self.coding_system = T.CODING_AGENT_SYSTEMS[int(crng.integers(0, len(T.CODING_AGENT_SYSTEMS)))]

    def _knob_accounts(self, krng: np.random.Generator, st: dict, total: int) -> None:
        """Per-account draws of the evasion knobs (none when every knob is at its neutral value)."""
        sp = self.spec
        if sp["rate_max"] > 0:  # each account its own volume
            st["rate_acct"] = krng.uniform(sp["rate_min"], sp["rate_max"], total)
        if sp["settings"] == "varied":  # each account its own client settings, like anyone's
            st["temp"] = _choice(krng, *TEMPERATURE_MIX, total).astype(float)
            # what a harvest asks for: no limit, or a generous one
            st["mt_pref"] = _choice(krng, [-1, 4096, 2048, 1024], [0.55, 0.25, 0.15, 0.05], total)
        if sp["elicitation"] == "varied":  # each account writes in one of the campaign's languages
            langs = sp["languages"]
            w = [0.5] + [0.5 / (len(langs) - 1)] * (len(langs) - 1) if len(langs) > 1 else [1.0]
            st["lang"] = _choice(krng, langs, w, total)
        if sp["template"] == "fixed":
            wrng = np.random.default_rng([self.seed, self.key, 0xF1])
            self.wrapper = T.FIXED_WRAPPERS[int(wrng.integers(0, len(T.FIXED_WRAPPERS)))]
        if sp["partition"]:
            self._pools: dict[str, dict] = {}
        if sp["focus"] > 0:  # each account its main capability
            st["main_cap"] = krng.integers(0, len(sp["capabilities"]), total)
        if sp.params.get("spread", 0.0) > 0:  # (a generator of its own: without spread nothing else moves)
            srng = np.random.default_rng([self.seed, self.key, 0x5B])
            for name in ("cover_share", "cot_share", "focus"):
                own = sp[name] + srng.uniform(-sp["spread"], sp["spread"], total)
                st[f"own_{name}"] = np.clip(own, 0.0, 1.0)

    def _dynamic_addresses(self, rng: np.random.Generator, st: dict, change_days: float) -> None:
        """Accounts whose ISP re-assigns their address every ~``change_days`` days (st["dyn"])."""
        n = len(st["account_id"])
        st["dyn"] = np.ones(n, dtype=bool)
        st["ip_days"] = change_days * rng.uniform(0.5, 1.5, n)
        st["ip_phase"] = rng.uniform(0, 1, n) * st["ip_days"]

    def _dynamic_ip(self, acct: np.ndarray, ts: np.ndarray, st: dict | None = None) -> np.ndarray:
        """The address account ``acct`` had at time ``ts``: one per lease, a new one at every change
        (a hash of seed, population, account and lease number, so any day can be drawn alone)."""
        st = self.st if st is None else st
        lease = np.floor(((ts - self.t0) / DAY_US + st["ip_phase"][acct]) / st["ip_days"][acct])
        h = infra.stable_hash(self.seed, self.key, acct, lease.astype(np.int64))
        return infra.ipv4(st["asn"][acct], (h % 8).astype(np.int64), ((h >> 8) % 65000).astype(np.int64))

    def accounts(self) -> pl.DataFrame:
        """Public account rows (``schema.ACCOUNTS``) plus label columns."""
        st = self.st
        sp = self.spec
        return pl.DataFrame(
            {
                "account_id": _str(st["account_id"]),
                "created_at": pl.Series(st["created"].astype(np.int64)).cast(pl.Datetime("us", "UTC")),
                "tier": _str(st["tier"]),
                "verified": pl.Series(st["verified"].astype(bool)),
                "email_domain": _str(st["email_domain"]),
                "payment_fingerprint": _str(st["payment"]),
                "signup_ip": _str(st["signup_ip"]),
                "signup_country": _str(st["signup_country"]),
                "archetype": _const(self.arch, self.n),
                "population": _const(sp.name, self.n),
                "campaign_id": _const(sp.campaign_id, self.n),
                "playbook": _const(self.arch if sp.is_campaign else None, self.n),
                "pool": _str(st["pool"]),
            }
        )

    # ------------------------------------------------------------------------------------- arrivals

    def _arrivals(self, rng: np.random.Generator, d: int) -> dict[str, np.ndarray] | None:
        st, b, sp = self.st, self.beh, self.spec
        n = self.n
        day0 = self.t0 + d * DAY_US
        wd = (self.start_weekday + d) % 7
        wmult = WEEKDAYS[b.weekday][wd]
        alive = (st["start_day"] <= d) & (d <= st["end_day"]) & (st["created"] < day0 + DAY_US)
        active = alive & (rng.random(n) < np.clip(st["p_active"] * wmult, 0, 1))
        lam = st["rate_mult"] * sp["rate"] / b.per_session
        if "rate_acct" in st:  # rate_min / rate_max: each account its own mean
            lam = st["rate_acct"] / b.per_session
        if self.arch in ("batch_job", "eval_harness"):  # one run a day when active
            nsess = active.astype(np.int64)
        else:
            nsess = np.where(active, rng.poisson(lam), 0)
        acct = np.repeat(np.arange(n), nsess)
        s = len(acct)
        if s == 0:
            return None
        profile = PROFILES["human" if sp.params.get("hours") == "human" else b.profile]
        hours = rng.choice(24, size=s, p=profile)
        if "profile_alt" in st:  # look-alikes whose accounts follow one of two curves (e.g. launched apps)
            alt = rng.choice(24, size=s, p=PROFILES["end_users"])
            hours = np.where(st["profile_alt"][acct], alt, hours)
        local_us = ((hours + rng.random(s)) * HOUR_US).astype(np.int64)
        if "shift_start" in st:  # contract workers: sessions start inside their work shift (local)
            local_us = ((st["shift_start"][acct] + rng.random(s) * st["shift_len"][acct]) * HOUR_US).astype(
                np.int64
            )
        start = day0 + local_us - st["tz"][acct].astype(np.int64) * HOUR_US
        if sp.params.get("hours") == "shifts":  # one orchestrator: sessions start in today's job windows
            win = rng.uniform(0, 24 - sp["shift_hours"], max(1, sp["shifts_per_day"]))
            pick = win[rng.integers(0, len(win), s)]
            start = day0 + ((pick + rng.random(s) * sp["shift_hours"]) * HOUR_US).astype(np.int64)
        if "lab_wd" in st:  # a class's weekly lab slots (local time), shared by its students
            g = st["group"][acct]
            in_lab = (st["lab_wd"][g] == wd).any(axis=1) & (rng.random(s) < sp["lab_share"])
            lab_local = ((st["lab_hour"][g] + rng.random(s) * 2.0) * HOUR_US).astype(np.int64)
            lab_start = day0 + lab_local - st["tz"][acct].astype(np.int64) * HOUR_US
            start = np.where(in_lab, lab_start, start)
        k = 1 + rng.poisson(b.per_session - 1, s) if b.per_session > 1 else np.ones(s, dtype=np.int64)
        if self.arch == "power_user":  # some sessions are small scripts looping a template over a list
            script = rng.random(s) < sp["script_share"] * 0.3
            k = np.where(script, rng.integers(10, 40, s), k)
        else:
            script = np.zeros(s, dtype=bool)
        if self.arch in ("batch_job", "eval_harness"):  # one burst: the whole day's work
            k = np.maximum(1, rng.poisson(st["rate_mult"][acct] * sp["rate"]))
        r = int(k.sum())
        first = np.cumsum(k) - k
        sess = np.repeat(np.arange(s), k)
        pos = np.arange(r) - first[sess]
        gap_med = np.where(np.repeat(script, k), 2.0, b.gap_median_s)
        gaps = rng.lognormal(np.log(gap_med), b.gap_sigma, r)
        gaps[pos == 0] = 0
        cum = np.cumsum(gaps)
        offs = cum - cum[first][sess]
        ts = start[sess] + (offs * 1e6).astype(np.int64)
        if b.conv == "session":
            conv_key = sess.astype(np.int64) * 4096
            turn = pos.copy()
            sc = np.repeat(script, k)
            conv_key = np.where(sc, conv_key + pos, conv_key)
            turn = np.where(sc, 0, turn)
        elif b.conv == "agent":
            steps = np.repeat(rng.integers(2, 9, s), k)
            conv_key = sess.astype(np.int64) * 4096 + pos // steps
            turn = pos % steps
        else:
            conv_key = np.arange(r, dtype=np.int64)
            turn = np.zeros(r, dtype=np.int64)
        _, conv_idx = np.unique(conv_key, return_inverse=True)
        conv_ids = infra.hex_ids(rng, int(conv_idx.max()) + 1, "conv_", 8)[conv_idx]
        return {
            "acct": acct[sess],
            "sess": sess,
            "ts": ts,
            "turn": turn.astype(np.int64),
            "conversation_id": conv_ids,
            "script": np.repeat(script, k),
        }

    # ------------------------------------------------------------------------------------- one day

    def day(self, d: int) -> pl.DataFrame | None:
        """All of this population's requests on day ``d`` (unsorted), with label columns."""
        rng = np.random.default_rng([self.seed, self.key, 1 + d])
        arr = self._arrivals(rng, d)
        if arr is None:
            return None
        acct = arr["acct"]
        r = len(acct)
        st = self.st
        c = self._content(rng, arr, d) if self.spec.is_campaign else self._benign_content(rng, arr, d)
        prompt: pl.Series = c["prompt"]
        system = c.get("system", _const(None, r))
        tools = c.get("tools", np.zeros(r, dtype=np.int64))
        harvest = c.get("harvest", np.zeros(r, dtype=bool))
        out_kind = c["out"]
        # network per row: the account's own, unless the content says otherwise (proxies)
        asn = c.get("asn", st["asn"][acct])
        ip = c.get("ip", st["ip"][acct])
        if "dyn" in st and "ip" not in c:  # addresses an ISP re-assigns every few days
            ip = np.where(st["dyn"][acct], self._dynamic_ip(acct, arr["ts"]), ip)
        country = c.get("country", st["country"][acct])
        turn = c.get("turn", arr["turn"])
        # model: preference, benign adoption of a release, campaign pivot
        model_idx = c.get("model_idx", st["model_pref"][acct])
        model = self.model_names[model_idx]
        ts = arr["ts"]
        if self.release is not None:
            adopt = ts >= st["adopt_us"][acct]
            if self.spec.is_campaign and self.spec["pivot"]:
                ramp = np.clip((ts - self.release_us - 2 * HOUR_US) / (20 * HOUR_US), 0.0, 1.0)
                adopt = rng.random(r) < self.spec["pivot_share"] * ramp
                adopt &= harvest | (rng.random(r) < 0.2)
            model = np.where(adopt & (ts >= self.release_us), self.release, model)
        model = c.get("model", model)  # look-alikes that choose the model per run (evaluation sweeps)
        # tokens
        plen = prompt.str.len_chars().to_numpy()
        slen = system.str.len_chars().fill_null(0).to_numpy()
        hist = turn * rng.integers(150, 600, r)
        input_tokens = np.ceil((plen + slen) / 3.8).astype(np.int64) + hist + 4 + tools * 120
        mus = np.zeros(r)
        sig = np.zeros(r)
        for kind, (mu, sg) in OUTPUT_TOKENS.items():
            m = out_kind == kind
            mus[m], sig[m] = mu, sg
        out_tok = np.ceil(rng.lognormal(mus, sig)).astype(np.int64)
        max_tokens = c.get("max_tokens")
        if max_tokens is None:  # -1: not set
            max_tokens = _choice(rng, *MAX_TOKENS_MIX, r)
        max_tokens = np.asarray(max_tokens, dtype=np.int64)
        mt = np.where(max_tokens < 0, np.iinfo(np.int64).max, max_tokens)
        out_tok = np.minimum(out_tok, mt)
        status = STATUS[rng.choice(3, size=r, p=STATUS_P)]
        out_tok = np.where(status == "ok", out_tok, 0)
        temperature = c.get("temperature", st["temp"][acct])
        return pl.DataFrame(
            {
                "ts": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
                "account_id": _str(st["account_id"][acct]),
                "prompt": prompt.alias("prompt"),
                "org_id": _str(st["org_id"][acct]),
                "api_key_id": _str(st["api_key"][acct]),
                "conversation_id": _str(c.get("conversation_id", arr["conversation_id"])),
                "turn": pl.Series(turn, dtype=pl.Int64),
                "system": system.alias("system"),
                "model": _str(model),
                "ip": _str(ip),
                "asn": pl.Series(asn, dtype=pl.Int64),
                "country": _str(country),
                "user_agent": _str(c.get("user_agent", st["ua"][acct])),
                "input_tokens": pl.Series(input_tokens, dtype=pl.Int64),
                "output_tokens": pl.Series(out_tok, dtype=pl.Int64),
                "max_tokens": pl.from_arrow(pa.array(max_tokens, mask=max_tokens < 0, type=pa.int64())),
                "temperature": pl.Series(np.asarray(temperature, dtype=float), dtype=pl.Float64),
                "tools": pl.Series(np.asarray(tools, dtype=np.int64), dtype=pl.Int64),
                "status": _str(status),
                "response": self._responses(d, prompt, system, out_kind, status),
                "_campaign_id": _const(self.spec.campaign_id, r),
                "_harvest": pl.Series(harvest, dtype=pl.Boolean),
            }
        )

    def _responses(
        self, d: int, prompt: pl.Series, system: pl.Series, out_kind: np.ndarray, status: np.ndarray
    ) -> pl.Series:
        """Null, or (``responses=True``) short synthetic answers from a generator of their own."""
        if not self.responses:
            return _const(None, len(prompt))
        rng = np.random.default_rng([self.seed, self.key, 1 + d, 0x5E5])
        return synthesize(rng, prompt, system, out_kind, status)

    # ------------------------------------------------------------------------------ benign content

    def _benign_content(self, rng: np.random.Generator, arr: dict, d: int) -> dict:
        arch = self.arch
        acct, turn = arr["acct"], arr["turn"]
        r = len(acct)
        st = self.st
        bank = self.bank
        none_sys = _const(None, r)
        if arch in ("casual", "corporate_team", "university_class"):
            kind = {"casual": "chat", "corporate_team": "support", "university_class": "chat"}[arch]
            first = bank.get(kind, rng, r)
            if arch == "corporate_team":
                dev = bank.get("dev", rng, r)
                first = _where(rng.random(r) < 0.5, dev, first)
            if arch == "university_class":
                first = _where(rng.random(r) < 0.7, self._homework(rng, arr, d), first)
            later = bank.get("followup", rng, r)
            prompt = _where(turn == 0, first, later)
            return {"prompt": prompt, "system": none_sys, "out": np.full(r, "chat", dtype=object)}
        if arch == "power_user":
            dev = bank.get("dev", rng, r)
            chat = bank.get("chat", rng, r)
            prompt = _where(rng.random(r) < 0.75, dev, chat)
            prompt = _where(turn == 0, prompt, bank.get("followup", rng, r))
            demand = draw(rng, [*T.COT_DEMANDS["en"][:3], "think step by step", "step by step please"], r)
            prompt = _append(prompt, demand, st["cot_habit"][acct] & (rng.random(r) < 0.6))
            script = arr["script"]
            if script.any():  # one template per session, looping over a list
                tidx = (arr["sess"] * 2654435761 + st["group"][acct]) % len(T.DEV_SCRIPT)
                looped = render(rng, T.DEV_SCRIPT, r, T._slots(), template_index=tidx)
                prompt = _where(script, looped, prompt)
            return {"prompt": prompt, "system": none_sys, "out": np.where(script, "short", "chat")}
        if arch == "app_backend":
            sysn = st["sys"][acct]
            company = np.asarray(T.COMPANIES, dtype=object)[sysn % len(T.COMPANIES)]
            sys_t = sysn % len(T.APP_SYSTEMS)
            cot = st["cot_sys"][acct]
            react = st["react"][acct]
            sys_t = np.where(
                cot,
                np.where(react, 3, np.where(sysn % 2 == 0, 2, 5)),
                np.where(np.isin(sys_t, [2, 3, 5]), 0, sys_t),
            )
            system = render(rng, T.APP_SYSTEMS, r, {"company": _str(company)}, template_index=sys_t)
            prompt = _where(rng.random(r) < 0.65, bank.get("support", rng, r), bank.get("chat", rng, r))
            tools = np.where(sys_t == 3, 2 + sysn % 4, 0)
            return {
                "prompt": prompt,
                "system": system,
                "tools": tools,
                "out": np.full(r, "chat", dtype=object),
                "max_tokens": np.where(sysn % 3 == 0, 512, 1024),
            }
        if arch == "batch_job":
            doc = bank.get("document", rng, r)
            tidx = st["sys"][acct]
            prompt = render(rng, T.BATCH_INSTRUCTIONS, r, {"doc": doc}, template_index=tidx)
            return {
                "prompt": prompt,
                "system": none_sys,
                "out": np.full(r, "json", dtype=object),
                "max_tokens": np.full(r, 512),
            }
        if arch == "eval_harness":
            fmt_i = (arr["sess"] + st["sys"][acct] + d) % 3  # one benchmark per run
            items = {f: bank.eval_items(f, rng, r) for f in ("gsm8k", "math", "humaneval")}
            prompt = items["humaneval"]
            out = np.full(r, "completion", dtype=object)
            for i, f in enumerate(("gsm8k", "math")):
                m = fmt_i == i
                wrapped = render(
                    rng,
                    [T.EVAL_FORMATS[f].replace("{", "{{").replace("}", "}}").replace("{{item}}", "{item}")],
                    r,
                    {"item": items[f]},
                )
                prompt = _where(m, wrapped, prompt)
                out = np.where(m, "cot", out)
            return {
                "prompt": prompt,
                "system": none_sys,
                "out": out,
                "max_tokens": np.where(fmt_i == 2, 512, 1024),
            }
        if arch == "agent_sdk_user":
            env = np.asarray(["macOS 14, zsh", "Ubuntu 22.04, bash", "Windows 11, PowerShell"], dtype=object)
            system = render(rng, [T.AGENT_SDK_SYSTEM], r, {"env": _str(env[st["sys"][acct]])})
            task = bank.get("agent_task", rng, r)
            obs = render(
                rng,
                [
                    "Tool result (run_tests): {a} passed, {b} failed",
                    "Tool result (read_file): {c} lines",
                    "Tool result (run_shell): exit code {e}",
                    "Observation: {x}",
                ],
                r,
                {"a": ints(3, 200), "b": ints(0, 5), "c": ints(10, 900), "e": ["0", "1", "2"], "x": T.ERRORS},
            )
            prompt = _where(turn == 0, task, obs)
            return {
                "prompt": prompt,
                "system": system,
                "tools": np.full(r, T.AGENT_SDK_TOOLS),
                "out": np.full(r, "agent", dtype=object),
                "max_tokens": np.full(r, 4096),
            }
        if arch in LOOKALIKE_CONTENT:
            return LOOKALIKE_CONTENT[arch](self, rng, arr, d)
        raise AssertionError(arch)

    def _homework(self, rng: np.random.Generator, arr: dict, d: int) -> pl.Series:
        """Students of one class paste the same homework set of the week."""
        st = self.st
        acct = arr["acct"]
        groups = st["group"][acct]
        week = d // 7
        hw = self.spec["homework_set"]
        out = np.empty(len(acct), dtype=object)
        pick = rng.integers(0, hw, len(acct))
        for g in np.unique(groups):  # loop over classes (tens), not rows
            m = groups == g
            grng = np.random.default_rng([self.seed, self.key, 0x4D, int(g), week])
            pool = self.bank.pool("homework", grng, hw)
            out[m] = pool[pick[m]]
        lead = draw(
            rng,
            ["", "", "help: ", "pls solve ", "Can you explain how to do this?\n", "hw question: "],
            len(acct),
        )
        return pl.DataFrame({"a": _str(lead), "b": _str(out)}).select(pl.concat_str(["a", "b"]))[:, 0]

    # ----------------------------------------------------------------------------- campaign content

    def _content(self, rng: np.random.Generator, arr: dict, d: int) -> dict:
        sp = self.spec
        acct = arr["acct"]
        r = len(acct)
        st = self.st
        bank = self.bank
        caps = sp["capabilities"]
        cap = rng.integers(0, len(caps), r)
        prompt = _const("", r)
        system = _const(None, r)
        tools = np.zeros(r, dtype=np.int64)
        out = np.full(r, "cot", dtype=object)
        s = T._slots()
        # the knobs draw from a generator of their own (the playbooks' draws stay as they were)
        krng = np.random.default_rng([self.seed, self.key, 1 + d, 0xADA])
        if sp["focus"] > 0:  # most of an account's harvest on its own main capability
            cap = np.where(krng.random(r) < self._own("focus", acct), st["main_cap"][acct], cap)
        # adaptive cover: whole sessions of ordinary chat, decided before the harvest items are taken
        session_cover = self._session_cover(krng, arr) if self.arch == "adaptive" else None
        dataset_rows = np.isin(cap, [i for i, c in enumerate(caps) if c in DATASET_CAPABILITIES])
        for i, name in enumerate(caps):
            m = cap == i
            if not m.any():
                continue
            if sp["partition"] and name in DATASET_CAPABILITIES:
                take = m if session_cover is None else m & ~session_cover
                core = _str(self._partitioned(name, take))
            elif name == "reasoning":
                core = bank.get("math" if rng.random() < 0.5 else "competition_math", rng, r)
            elif name == "coding":
                core = bank.get("code", rng, r)
            elif name == "general":
                core = bank.get("instruction", rng, r)
            elif name == "agentic_coding":
                core = _where(rng.random(r) < 0.5, bank.get("agent_task", rng, r), bank.get("code", rng, r))
                system = _where(m, _const(self.coding_system, r), system)
                tools = np.where(m, self.tool_count, tools)
            elif name == "tool_use":
                q = bank.get("question", rng, r)
                core = render(
                    rng,
                    [
                        "Use the available tools to answer: {q}",
                        "{q}\n(Call tools as needed; show your reasoning between calls.)",
                    ],
                    r,
                    {"q": q},
                )
                tools = np.where(m, np.maximum(3, self.tool_count - 4), tools)
                system = _where(
                    m, _const("You can call tools. Think before each call and explain why.", r), system
                )
            elif name == "rubric_grading":
                q, a, a2 = (
                    bank.get("question", rng, r),
                    bank.get("answer", rng, r),
                    bank.get("answer", rng, r),
                )
                core = render(
                    rng,
                    T.RUBRIC,
                    r,
                    {
                        "question": q,
                        "answer": a,
                        "answer2": a2,
                        "criteria": T.RUBRIC_CRITERIA,
                    },
                )
                out = np.where(m, "json", out)
            elif name == "articulate_reasoning":
                q, a = bank.get("question", rng, r), bank.get("answer", rng, r)
                core = render(rng, T.ARTICULATE, r, {"question": q, "answer": a})
            elif name == "safe_rewrite":
                q = bank.get("sensitive", rng, r)
                core = render(rng, T.SAFE_REWRITE, r, {"sensitive": q})
                out = np.where(m, "chat", out)
            else:
                raise AssertionError(name)
            prompt = _where(m, core, prompt)
        if sp["template"] == "paraphrased":
            para = render(
                rng,
                T.PARA_TEMPLATES,
                r,
                {
                    "open": T.PARA_OPEN,
                    "ask": T.PARA_ASK,
                    "detail": T.PARA_DETAIL,
                    "fmt": T.PARA_FORMAT,
                    "item": prompt,
                },
            )
            prompt = _where(dataset_rows, para, prompt)
        elif sp["template"] == "fixed":  # one wrapper around every dataset item
            wrapped = render(rng, [self.wrapper], r, {"item": prompt})
            prompt = _where(dataset_rows, wrapped, prompt)
        if sp["elicitation"] == "fixed":
            if sp["cot_share"] > 0:
                demand = draw(rng, T.cot_demands(sp["languages"]), r)
                prompt = _append(prompt, demand, rng.random(r) < sp["cot_share"], sep="\n")
            if sp["injected_instruction"]:
                if self.injected_in_system:
                    system = _where(system.is_null().to_numpy(), _const(self.injected, r), system)
                else:
                    prompt = _append(
                        prompt, np.full(r, self.injected, dtype=object), np.ones(r, dtype=bool), "\n\n"
                    )
        else:  # varied wording, or no request at all: long answers only where reasoning was asked for
            asked = (krng.random(r) < self._own("cot_share", acct) if sp["elicitation"] == "varied"
                     else np.zeros(r, bool))
            if asked.any():
                prompt = self._varied_request(krng, prompt, asked, acct)
            out = np.where(dataset_rows & ~asked, "chat", out)
        del s
        harvest = np.ones(r, dtype=bool)
        res: dict = {}
        if session_cover is not None:
            harvest = ~session_cover
            if session_cover.any():
                cov = self._cover_chats(krng, arr, session_cover)
                prompt = _where(session_cover, cov["prompt"], prompt)
                system = _where(session_cover, _const(None, r), system)
                tools = np.where(session_cover, 0, tools)
                out = np.where(session_cover, "chat", out)
                res.update(turn=cov["turn"], conversation_id=cov["conversation_id"])
            # harvest on the default model (or the release, once adopted); the cover chats on the
            # model the account's users prefer
            res["model_idx"] = np.where(harvest, 0, st["model_pref"][acct])
            res["max_tokens"] = np.full(r, sp["max_tokens"])
        elif sp["cover_share"] > 0:  # the reseller's unrelated customers ride the same accounts
            cover = rng.random(r) < sp["cover_share"]
            chat = _where(rng.random(r) < 0.5, bank.get("chat", rng, r), bank.get("support", rng, r))
            prompt = _where(cover, _where(rng.random(r) < 0.3, bank.get("dev", rng, r), chat), prompt)
            system = _where(cover, _const(None, r), system)
            tools = np.where(cover, 0, tools)
            out = np.where(cover, "chat", out)
            harvest = ~cover
            res["temperature"] = np.where(cover, 0.7, st["temp"][acct])
            res["max_tokens"] = np.where(cover, 1024, sp["max_tokens"])
        else:
            res["max_tokens"] = np.full(r, sp["max_tokens"])
        if sp["settings"] == "varied":  # the account's own settings; its chats like anyone's
            res["temperature"] = st["temp"][acct]
            ordinary = _choice(krng, *MAX_TOKENS_MIX, r)
            res["max_tokens"] = np.where(harvest, st["mt_pref"][acct], ordinary)
        if sp["network"] == "residential_proxy":  # a fresh exit per request; pools use different providers
            pool = st["pool"][acct]
            pool_seed = np.where(pool == "standby", 1, 0)
            asn = np.empty(r, dtype=np.int64)
            ip = np.empty(r, dtype=object)
            country = np.empty(r, dtype=object)
            for ps in (0, 1):
                m = pool_seed == ps
                if m.any():
                    a, i_, c = infra.residential_proxy(
                        rng, int(m.sum()), zlib.crc32(f"{sp['campaign']}:{ps}".encode())
                    )
                    asn[m], ip[m], country[m] = a, i_, c
            res.update(asn=asn, ip=ip, country=country)
        res.update(prompt=prompt, system=system, tools=tools, out=out, harvest=harvest)
        return res

    # ------------------------------------------------------------------------------ evasion knobs

    def _partitioned(self, cap_name: str, take: np.ndarray) -> np.ndarray:
        """The next unused items of the campaign's pool for ``cap_name``, one per row of ``take``
        (None elsewhere): drawn without replacement, so no item repeats within the campaign until
        the pool is spent (then a fresh permutation starts). Days must be drawn in order (simulate
        does)."""
        ci = DATASET_CAPABILITIES.index(cap_name)
        if not self._pools:  # every dataset pool at once, an item in one pool only (corpora overlap)
            parts = []
            for i, cap in enumerate(DATASET_CAPABILITIES):
                if self.spec["dataset_sources"] == "evaluation":
                    got = [self.bank.dataset((c,), split) for c, split in T.EVALUATION_SOURCES[cap]]
                    got = [g for g in got if g is not None]
                    items = np.concatenate(got) if got else None
                else:
                    items = self.bank.dataset(T.DATASET_SOURCES[cap])
                if items is None:  # built-in text: a large pool of generated items
                    g = np.random.default_rng([self.seed, self.key, 0x9A27, i])
                    items = self.bank.get(T.DATASET_KINDS[cap], g, 60_000).to_numpy().astype(object)
                parts.append(pl.DataFrame({"item": _str(items), "cap": np.full(len(items), i)}))
            every = pl.concat(parts).unique("item", keep="first", maintain_order=True)
            for i, cap in enumerate(DATASET_CAPABILITIES):
                items = every.filter(pl.col("cap") == i)["item"].to_numpy().astype(object)
                self._pools[cap] = {"items": items, "order": np.empty(0, np.int64), "pos": 0, "passes": 0}
        pool = self._pools[cap_name]
        k = int(take.sum())
        picked = [np.empty(0, dtype=np.int64)]
        while (need := k - sum(len(x) for x in picked)) > 0:
            if pool["pos"] >= len(pool["order"]):  # a fresh permutation (a second pass repeats items)
                g = np.random.default_rng([self.seed, self.key, 0x9A28, ci, pool["passes"]])
                pool["order"], pool["pos"] = g.permutation(len(pool["items"])), 0
                pool["passes"] += 1
            got = pool["order"][pool["pos"] : pool["pos"] + need]
            pool["pos"] += len(got)
            picked.append(got)
        out = np.full(len(take), None, dtype=object)
        out[take] = pool["items"][np.concatenate(picked)]
        return out

    def _varied_request(
        self, rng: np.random.Generator, prompt: pl.Series, asked: np.ndarray, acct: np.ndarray
    ) -> pl.Series:
        """Chain-of-thought requests composed afresh (elicitation.py) in the account's language,
        before or after the item, set apart by a space, a line or a paragraph."""
        r = len(prompt)
        phrase = elicitation.compose(rng, self.st["lang"][acct], r)
        sep = _str(np.asarray([" ", "\n", "\n\n"], dtype=object)[rng.choice(3, size=r, p=[0.3, 0.3, 0.4])])
        before = rng.random(r) < 0.35
        df = pl.DataFrame({"p": prompt, "q": phrase, "s": sep, "b": before, "a": asked})
        return df.select(
            pl.when(~pl.col("a"))
            .then(pl.col("p"))
            .when(pl.col("b"))
            .then(pl.concat_str(["q", "s", "p"]))
            .otherwise(pl.concat_str(["p", "s", "q"]))
        )[:, 0]

    def _own(self, name: str, acct: np.ndarray) -> np.ndarray | float:
        """The campaign's share ``name``, or each row's account's own (``spread``)."""
        own = self.st.get(f"own_{name}")
        return self.spec[name] if own is None else own[acct]

    def _session_cover(self, rng: np.random.Generator, arr: dict) -> np.ndarray:
        """Per row: whether its session is cover (an ordinary chat), cover_share of sessions (of the
        account's sessions, with ``spread``)."""
        s = int(arr["sess"].max()) + 1
        share = self._own("cover_share", arr["acct"])
        if not np.isscalar(share):  # (a session is one account's: any of its rows gives the account)
            per_sess = np.zeros(s)
            per_sess[arr["sess"]] = share
            share = per_sess
        return (rng.random(s) < share)[arr["sess"]]

    def _cover_chats(self, rng: np.random.Generator, arr: dict, cover: np.ndarray) -> dict:
        """Cover sessions as multi-turn chats: a real opening message, then follow-ups. With a main
        capability per account (``focus``) the chats fit the persona: a coder's are mostly
        programming questions."""
        bank = self.bank
        sess = arr["sess"]
        r = len(sess)
        first = np.searchsorted(sess, sess)  # index of each session's first row (sessions are contiguous)
        pos = np.arange(r) - first
        p_dev = np.full(r, 0.25)
        if "main_cap" in self.st:
            coder = (
                np.asarray(self.spec["capabilities"], dtype=object)[self.st["main_cap"][arr["acct"]]]
                == "coding"
            )
            p_dev = np.where(coder, 0.75, 0.15)
        opening = _where(rng.random(r) < p_dev, bank.get("dev", rng, r), bank.get("chat", rng, r))
        prompt = _where(pos == 0, opening, bank.get("followup", rng, r))
        conv = np.where(cover, arr["conversation_id"][first], arr["conversation_id"])
        return {"prompt": prompt, "turn": np.where(cover, pos, arr["turn"]), "conversation_id": conv}


def _model_weights(k: int) -> np.ndarray:
    w = np.array([0.75, 0.2, 0.05][:k] + [0.02] * max(0, k - 3))
    return w / w.sum()


def build(scenario: Scenario, bank: T.TextBank, seed: int, responses: bool = False) -> list[Population]:
    return [Population(p, scenario, bank, seed, responses) for p in scenario.populations]
