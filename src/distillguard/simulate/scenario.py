"""Scenarios: which populations and campaigns a simulation holds, as data (TOML or YAML).

A scenario file has top-level settings and a list of ``[[population]]`` tables. Each population
names an ``archetype`` (a benign kind of customer or a campaign playbook) and overrides any of its
parameters; everything not given takes the archetype's default below. Unknown keys and bad values
are refused with a ``UsageError`` naming the file and the key.

    name = "my-threat"
    start = "2026-04-22"
    days = 14
    [models]
    release = "frontier-2026-05"
    release_day = 7
    [[population]]
    archetype = "casual"
    accounts = 2000
    [[population]]
    archetype = "hydra"
    campaign = "sim-c01"
    accounts = 300
    failover_day = 9
    standby_accounts = 150
"""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from distillguard.errors import UsageError

BENIGN_ARCHETYPES = (
    "casual",
    "power_user",
    "app_backend",
    "batch_job",
    "eval_harness",
    "agent_sdk_user",
    "university_class",
    "corporate_team",
    # hard look-alikes: legitimate customers that share what campaigns share (see populations.py)
    "startup_cohort",
    "carrier_nat",
    "research_lab",
    "reward_model_vendor",
    "reseller_customers",
    # look-alikes of adaptive campaigns: public dataset items, reasoning requests, quiet volume, home
    # IPs, human hours (see adaptive_lookalikes.py)
    "tutoring_product",
    "ml_researcher",
    "labelling_contractor",
    "content_agency",
)
PLAYBOOKS = ("hydra", "cot_harvest", "capability_sweep", "paraphrase", "low_and_slow", "adaptive")
#: capabilities whose harvest items are public dataset items (math, code, instructions)
DATASET_CAPABILITIES = ("reasoning", "coding", "general")
CAPABILITIES = (
    "reasoning",
    "coding",
    "agentic_coding",
    "tool_use",
    "rubric_grading",
    "articulate_reasoning",
    "safe_rewrite",
    "general",
)
LANGUAGES = ("en", "zh", "ru", "es", "de", "fr", "ja", "ko", "pt", "ar")

# parameters every population has: (default, description)
COMMON: dict[str, Any] = {
    "name": "",  # defaults to the archetype (benign) or campaign id
    "archetype": "",
    "accounts": 100,  # number of accounts (multiplied by --scale)
    "rate": 5.0,  # mean requests per active account-day
    "active": 0.5,  # probability an account is active on a given (week)day
    "start_day": 0,  # first day of activity (0-based)
    "end_day": -1,  # last day of activity, -1 = to the end
}
BENIGN_DEFAULTS: dict[str, dict[str, Any]] = {
    # dynamic_ip_share of the accounts have an ISP that re-assigns their home address every
    # ~ip_change_days days (the rest keep one address)
    "casual": {"accounts": 2000, "rate": 4.0, "active": 0.3, "dynamic_ip_share": 0.0, "ip_change_days": 4.0},
    "power_user": {
        "accounts": 200,
        "rate": 22.0,
        "active": 0.65,
        "cot_habit": 0.3,
        "script_share": 0.3,
        "dynamic_ip_share": 0.0,
        "ip_change_days": 4.0,
    },
    "app_backend": {"accounts": 30, "rate": 90.0, "active": 0.97, "cot_system_share": 0.35},
    "batch_job": {"accounts": 15, "rate": 350.0, "active": 0.25},
    "eval_harness": {"accounts": 10, "rate": 450.0, "active": 0.2},
    "agent_sdk_user": {"accounts": 600, "rate": 8.0, "active": 0.45},
    # a class shares its weekly lab slots (labs_per_week two-hour slots; lab_share of sessions in them)
    "university_class": {
        "accounts": 80,
        "rate": 5.0,
        "active": 0.45,
        "group_size": 40,
        "homework_set": 6,
        "labs_per_week": 2,
        "lab_share": 0.5,
    },
    "corporate_team": {"accounts": 80, "rate": 10.0, "active": 0.7, "group_size": 8},
    # an accelerator batch signed up within hours; shared_card_share of it on the accelerator's card,
    # launched_share already serving end users around the clock
    "startup_cohort": {
        "accounts": 80,
        "rate": 30.0,
        "active": 0.7,
        "group_size": 40,
        "shared_card_share": 0.35,
        "launched_share": 0.3,
    },
    # casual mobile users behind nat_prefixes CGNAT /24 prefixes of one carrier ASN
    "carrier_nat": {"accounts": 1500, "rate": 4.0, "active": 0.3, "nat_prefixes": 4},
    # verified labs (group_size accounts each, one card) sweeping a CoT benchmark for sweep_days days,
    # every problem sampled `samples` times, across models
    "research_lab": {
        "accounts": 5,
        "rate": 600.0,
        "active": 0.95,
        "group_size": 5,
        "sweep_days": 5,
        "samples": 4,
    },
    # verified enterprise data-labelling vendor(s): group_size accounts each, one grading template
    "reward_model_vendor": {"accounts": 2, "rate": 1500.0, "active": 0.97, "group_size": 2},
    # a legitimate reseller / bring-your-own-key gateway: unrelated customers whose gateway_share of
    # sessions leave from the gateway's gateway_prefixes /24s with its user agent
    "reseller_customers": {
        "accounts": 300,
        "rate": 12.0,
        "active": 0.5,
        "gateway_prefixes": 3,
        "gateway_share": 0.85,
    },
    # an ed-tech product's backend (group_size accounts per product, one tutor system prompt asking for
    # step-by-step explanations): students' homework questions from public math/coding/instruction
    # sets, popular ones asked again and again (Zipf weights of exponent `popularity` over the
    # product's `curriculum` items), follow-up turns, students' hours in the product's time zone
    "tutoring_product": {
        "accounts": 60,
        "rate": 90.0,
        "active": 0.9,
        "group_size": 3,
        "curriculum": 1500,
        "popularity": 1.1,
    },
    # individual researchers evaluating models on public benchmarks (GSM8K, MATH, HumanEval, MBPP):
    # runs over a benchmark's canonical items, some sampled several times, from campus, home or a GPU box
    "ml_researcher": {"accounts": 80, "rate": 60.0, "active": 0.35, "samples_max": 4},
    # annotators of contracted data-labelling vendors (group_size per vendor): instruction-style items
    # from the vendor's task queue (each item labelled by `overlap` annotators on average) in the
    # vendor's guideline template, in shifts, from home; company_card_share of them on the vendor's card
    "labelling_contractor": {
        "accounts": 60,
        "rate": 35.0,
        "active": 0.8,
        "group_size": 30,
        "overlap": 2.5,
        "company_card_share": 0.4,
        "ip_change_days": 4.0,
    },
    # agencies (group_size staff accounts each, one card) running one template over client documents
    "content_agency": {"accounts": 40, "rate": 30.0, "active": 0.75, "group_size": 4},
}
CAMPAIGN_COMMON: dict[str, Any] = {
    "campaign": "",  # campaign id, e.g. sim-c01 (required)
    "capabilities": ["reasoning"],
    "languages": ["en"],
    # template around the dataset items (reasoning, coding, general): none (the item verbatim) |
    # fixed (one wrapper for the whole campaign) | paraphrased (assembled from interchangeable clauses);
    # the other capabilities always use their stock task templates. `paraphrase = true` = "paraphrased".
    "template": "none",
    # how chain-of-thought is asked for: fixed (cot_share of harvest prompts end with one of a few
    # stock phrases; injected_instruction adds one fixed instruction to every request) | varied
    # (cot_share of harvest prompts carry a request composed afresh from a grammar, in the campaign's
    # languages, many worded so that no stock phrase occurs) | none (never asked for)
    "elicitation": "fixed",
    "cot_share": 0.0,  # share of harvest prompts that ask for chain-of-thought
    "injected_instruction": False,  # elicitation = fixed: a fixed instruction forcing reasoning into tags
    "pivot": False,  # move pivot_share of traffic to the released model within a day
    "pivot_share": 0.5,
    "failover_day": -1,  # day the primary pool goes quiet and the standby pool takes over
    "standby_accounts": 0,
    "failover_share": 1.0,  # share of the primary pool that goes quiet on failover_day
    # share of requests that are cover: the reseller's unrelated customers (other playbooks), or
    # ordinary multi-turn chats the operator mixes in (adaptive: whole sessions of chat)
    "cover_share": 0.0,
    # residential_proxy (a fresh exit per request) | datacenter | home (one fixed home IP) |
    # sticky_residential (one consumer-ISP address per account, re-assigned every ~ip_change_days)
    "network": "datacenter",
    "ip_change_days": 4.0,  # network = sticky_residential: mean days between address changes
    "card_group": 1,  # accounts sharing one payment instrument
    "no_card_share": 0.0,  # share of accounts with no payment instrument at all (free tier)
    "signup_bursts": 0,  # sign-ups in this many bursts (0: spread out)
    # > 0: sign-ups spread uniformly over this many days before account_age_days (replaces bursts)
    "signup_spread_days": 0,
    "account_age_days": 0,  # accounts created this many days (or more) before start
    "hours": "flat",  # flat (24/7 scripts) | human (local waking hours) | shifts (shared job windows)
    "shifts_per_day": 3,  # hours=shifts: the orchestrator runs the pool in this many windows a day
    "shift_hours": 2.0,  # ... each this long; every active account starts its sessions inside them
    # > 0: each account's mean requests per active day drawn uniformly from [rate_min, rate_max]
    "rate_min": 0.0,
    "rate_max": 0.0,
    # adaptive: each account draws its own cover share, chain-of-thought share and focus uniformly
    # within +-spread of the campaign's (clipped to [0, 1]), so its accounts look less alike
    "spread": 0.0,
    # harvest items drawn without replacement from the campaign's dataset pools, so no item repeats
    # within the campaign (each goes to one account); reasoning/coding/general capabilities only
    "partition": False,
    # all (whole public datasets) | evaluation (published evaluation sets only: benchmark test splits
    # and evaluation-only sets, text.EVALUATION_SOURCES; far smaller pools); partitioned harvests only
    "dataset_sources": "all",
    # share of an account's harvest on its own main capability (a persona: one account asks maths,
    # another code); 0: every account spreads evenly over the capabilities
    "focus": 0.0,
    # fixed (every request the campaign's temperature and max_tokens) | varied (each account its own
    # temperature and output limit, from the mix ordinary API users show)
    "settings": "fixed",
    "temperature": 0.6,
    "max_tokens": 8000,
}
PLAYBOOK_DEFAULTS: dict[str, dict[str, Any]] = {
    "hydra": {
        "accounts": 250,
        "rate": 24.0,
        "active": 0.92,
        "network": "residential_proxy",
        "card_group": 4,
        "signup_bursts": 3,
        "cover_share": 0.25,
        "template": "paraphrased",
        "cot_share": 0.5,
        "languages": ["en", "zh"],
        "capabilities": ["reasoning", "agentic_coding", "tool_use", "rubric_grading", "safe_rewrite"],
    },
    "cot_harvest": {
        "accounts": 60,
        "rate": 30.0,
        "active": 0.9,
        "injected_instruction": True,
        "cot_share": 0.8,
        "languages": ["en", "zh", "ru", "es"],
        "capabilities": ["reasoning", "general"],
        "card_group": 5,
        "signup_bursts": 2,
    },
    "capability_sweep": {
        "accounts": 80,
        "rate": 20.0,
        "active": 0.9,
        "hours": "shifts",
        "card_group": 3,
        "signup_bursts": 2,
        "capabilities": [
            "reasoning",
            "agentic_coding",
            "rubric_grading",
            "articulate_reasoning",
            "safe_rewrite",
        ],
    },
    "paraphrase": {
        "accounts": 50,
        "rate": 25.0,
        "active": 0.9,
        "template": "paraphrased",
        "card_group": 2,
        "signup_bursts": 1,
        "network": "residential_proxy",
        "capabilities": ["reasoning", "coding", "general"],
    },
    "low_and_slow": {
        "accounts": 40,
        "rate": 4.0,
        "active": 0.75,
        "network": "home",
        "hours": "human",
        "account_age_days": 180,
        "template": "paraphrased",
        "cot_share": 0.6,
        "temperature": 0.7,
        "max_tokens": 4096,
        "capabilities": ["reasoning", "articulate_reasoning", "coding"],
    },
    # an operator who read the 2026 reports and avoids every tell they made public: no shared
    # template, chain-of-thought asked for in freely varied wording, each account its own card or none,
    # sign-ups spread over months, one consumer-ISP address per account that changes every few days,
    # human hours in the account's own time zone, a third of the traffic ordinary chats, a power user's
    # volume, the public datasets partitioned across the accounts, each account its own settings
    "adaptive": {
        "accounts": 150,
        "active": 0.75,
        "rate": 21.5,
        "rate_min": 8.0,
        "rate_max": 35.0,
        "template": "none",
        "elicitation": "varied",
        "cot_share": 0.75,
        "languages": ["en", "zh", "es", "ru", "de", "fr"],
        "capabilities": ["reasoning", "coding", "general"],
        "card_group": 1,
        "no_card_share": 0.35,
        "signup_spread_days": 150,
        "account_age_days": 20,
        "network": "sticky_residential",
        "ip_change_days": 4.0,
        "hours": "human",
        "cover_share": 0.38,
        "partition": True,
        "focus": 0.85,
        "settings": "varied",
    },
}
ENUM_PARAMS = {
    "network": ("residential_proxy", "datacenter", "home", "sticky_residential"),
    "hours": ("flat", "human", "shifts"),
    "template": ("none", "fixed", "paraphrased"),
    "elicitation": ("fixed", "varied", "none"),
    "settings": ("fixed", "varied"),
    "dataset_sources": ("all", "evaluation"),
}
#: keys older scenario files may use for a knob that has a new name: old key -> (new key, mapping)
ALIASES: dict[str, tuple[str, dict[Any, Any]]] = {
    "paraphrase": ("template", {True: "paraphrased", False: "none"}),
}
#: campaign knobs added with the adaptive playbook and their neutral values (the behaviour before
#: they existed); a population that leaves them all neutral is recorded in scenario.json as before,
#: so that the files of older scenarios keep their bytes
ADDED_CAMPAIGN_KNOBS: dict[str, Any] = {
    "elicitation": "fixed",
    "ip_change_days": 4.0,
    "no_card_share": 0.0,
    "signup_spread_days": 0,
    "rate_min": 0.0,
    "rate_max": 0.0,
    "partition": False,
    "focus": 0.0,
    "settings": "fixed",
    "dataset_sources": "all",
}
#: campaign knobs added after the `adaptive` scenario shipped, with their neutral values: recorded in
#: scenario.json only when set, so that adaptive's files (whose other knobs are all recorded) keep
#: their bytes too
LATER_CAMPAIGN_KNOBS: dict[str, Any] = {"spread": 0.0}
#: the same for benign archetypes that had parameters before
ADDED_BENIGN_KNOBS: dict[str, dict[str, Any]] = {
    "casual": {"dynamic_ip_share": 0.0, "ip_change_days": 4.0},
    "power_user": {"dynamic_ip_share": 0.0, "ip_change_days": 4.0},
}
TOP_LEVEL: dict[str, Any] = {
    "name": "custom",
    "description": "",
    "start": "2026-04-22",
    "days": 14,
    "models": {},
    "population": [],
}
MODEL_DEFAULTS: dict[str, Any] = {
    "default": "frontier-2026-04",
    "others": ["frontier-mini-2026-02", "frontier-2025-11"],
    "release": "",  # a model released during the window ("" = none)
    "release_day": -1,
    "benign_adoption_per_day": 0.03,
}


@dataclass(frozen=True)
class PopulationSpec:
    """One resolved population: archetype + every parameter."""

    name: str
    archetype: str
    params: dict[str, Any]

    @property
    def is_campaign(self) -> bool:
        return self.archetype in PLAYBOOKS

    @property
    def campaign_id(self) -> str:
        return self.params["campaign"] if self.is_campaign else "benign"

    def __getitem__(self, key: str) -> Any:
        return self.params[key]


@dataclass(frozen=True)
class Scenario:
    """A resolved scenario (defaults applied, validated)."""

    name: str
    description: str
    start: dt.date
    days: int
    models: dict[str, Any]
    populations: tuple[PopulationSpec, ...]
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"] = self.start.isoformat()
        d["populations"] = [
            {"name": p.name, "archetype": p.archetype, **_recorded(p)} for p in self.populations
        ]
        return d

    def scaled(self, scale: float, days: int | None = None) -> Scenario:
        if scale <= 0:
            raise UsageError(f"--scale must be > 0, got {scale}")
        if days is not None and days < 1:
            raise UsageError(f"--days must be >= 1, got {days}")
        pops = []
        for p in self.populations:
            params = dict(p.params)
            params["accounts"] = max(1, round(params["accounts"] * scale)) if params["accounts"] > 0 else 0
            if p.is_campaign and params["standby_accounts"] > 0:
                params["standby_accounts"] = max(1, round(params["standby_accounts"] * scale))
            pops.append(PopulationSpec(p.name, p.archetype, params))
        return Scenario(
            self.name,
            self.description,
            self.start,
            days or self.days,
            self.models,
            tuple(pops),
            self.source,
            self.extra,
        )


def _recorded(p: PopulationSpec) -> dict[str, Any]:
    """A population's parameters as scenario.json records them.

    A campaign that leaves every knob of :data:`ADDED_CAMPAIGN_KNOBS` neutral (and uses no template
    or network that did not exist before) is written as it was before those knobs existed, with its
    template as the old ``paraphrase`` flag, so the files of older scenarios keep their bytes; a
    knob of :data:`LATER_CAMPAIGN_KNOBS` is written only when set.
    """
    params = dict(p.params)
    if p.is_campaign:
        for k, v in LATER_CAMPAIGN_KNOBS.items():
            if params.get(k) == v:
                del params[k]
    added = ADDED_BENIGN_KNOBS.get(p.archetype, {})
    if added and all(params[k] == v for k, v in added.items()):
        for k in added:
            del params[k]
    if (
        p.is_campaign
        and params["template"] in ALIASES["paraphrase"][1].values()
        and params["network"] != "sticky_residential"
        and all(params[k] == v for k, v in ADDED_CAMPAIGN_KNOBS.items())
    ):
        for k in ADDED_CAMPAIGN_KNOBS:
            del params[k]
        params["paraphrase"] = params.pop("template") == "paraphrased"
    return params


def builtin_names() -> list[str]:
    files = resources.files("distillguard.simulate") / "scenarios"
    return sorted(p.name.rsplit(".", 1)[0] for p in files.iterdir() if p.name.endswith((".toml", ".yaml")))


def _type_ok(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if isinstance(default, dict):
        return isinstance(value, dict)
    return True


def _tname(default: Any) -> str:
    return {
        bool: "true/false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list of strings",
        dict: "a table",
    }[type(default)]


def _defaults_for(archetype: str) -> dict[str, Any]:
    d = copy.deepcopy(COMMON)
    if archetype in BENIGN_DEFAULTS:
        d.update(copy.deepcopy(BENIGN_DEFAULTS[archetype]))
    else:
        d.update(copy.deepcopy(CAMPAIGN_COMMON))
        d.update(copy.deepcopy(PLAYBOOK_DEFAULTS[archetype]))
    return d


def parse_scenario(raw: Any, source: str) -> Scenario:
    """Validate a scenario mapping (as read from TOML/YAML) and apply defaults."""

    def bad(where: str, msg: str) -> UsageError:
        return UsageError(f"scenario {source}: {where}: {msg}")

    if not isinstance(raw, dict):
        raise UsageError(f"scenario {source}: the file must hold a table/mapping at top level")
    for k in raw:
        if k not in TOP_LEVEL:
            raise bad(k, f"unknown key (allowed: {', '.join(TOP_LEVEL)})")
    top = {**copy.deepcopy(TOP_LEVEL), **raw}
    for k in ("name", "description", "start", "days", "models", "population"):
        default = TOP_LEVEL[k]
        v = top[k]
        if k == "start" and isinstance(v, dt.date):
            continue
        if not _type_ok(default, v) and not (k == "population" and isinstance(v, list)):
            raise bad(k, f"expected {_tname(default)}, got {v!r}")
    start = top["start"]
    if isinstance(start, dt.datetime):
        start = start.date()
    if isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start)
        except ValueError as exc:
            raise bad("start", f"not an ISO date (YYYY-MM-DD): {start!r}") from exc
    days = top["days"]
    if days < 1 or days > 400:
        raise bad("days", f"must be between 1 and 400, got {days}")
    models = copy.deepcopy(MODEL_DEFAULTS)
    for k, v in top["models"].items():
        if k not in MODEL_DEFAULTS:
            raise bad(f"models.{k}", f"unknown key (allowed: {', '.join(MODEL_DEFAULTS)})")
        if not _type_ok(MODEL_DEFAULTS[k], v):
            raise bad(f"models.{k}", f"expected {_tname(MODEL_DEFAULTS[k])}, got {v!r}")
        models[k] = v
    if models["release"] and not (0 <= models["release_day"] < days):
        raise bad("models.release_day", f"must be a day in 0..{days - 1} when models.release is set")
    pops: list[PopulationSpec] = []
    seen_names: set[str] = set()
    campaigns: dict[str, str] = {}
    if not top["population"]:
        raise bad("population", "at least one [[population]] is needed")
    for i, p in enumerate(top["population"]):
        where = f"population[{i}]"
        if not isinstance(p, dict):
            raise bad(where, "must be a table")
        arch = p.get("archetype")
        if arch not in BENIGN_ARCHETYPES + PLAYBOOKS:
            raise bad(
                f"{where}.archetype", f"{arch!r} is not one of {', '.join(BENIGN_ARCHETYPES + PLAYBOOKS)}"
            )
        defaults = _defaults_for(arch)
        p = dict(p)
        for old, (new, mapping) in ALIASES.items():
            if old in p and old not in defaults and new in defaults:
                v = p.pop(old)
                if v not in mapping or not isinstance(v, type(next(iter(mapping)))):
                    raise bad(f"{where}.{old}", f"expected one of {', '.join(map(repr, mapping))}, got {v!r}")
                if new in p and p[new] != mapping[v]:
                    raise bad(
                        f"{where}.{old}", f"{old} = {v!r} contradicts {new} = {p[new]!r}; give {new} only"
                    )
                p[new] = mapping[v]
        given = set(p)
        for k, v in p.items():
            if k not in defaults:
                raise bad(
                    f"{where}.{k}", f"unknown key for archetype {arch!r} (allowed: {', '.join(defaults)})"
                )
            if not _type_ok(defaults[k], v):
                raise bad(f"{where}.{k}", f"expected {_tname(defaults[k])}, got {v!r}")
        params = {**defaults, **copy.deepcopy(p)}
        for k in (
            "rate",
            "temperature",
            "cot_share",
            "pivot_share",
            "cover_share",
            "active",
            "failover_share",
            "shared_card_share",
            "launched_share",
            "gateway_share",
            "no_card_share",
            "company_card_share",
            "ip_change_days",
            "rate_min",
            "rate_max",
            "focus",
            "dynamic_ip_share",
            "popularity",
            "overlap",
            "spread",
        ):
            if k in params:
                params[k] = float(params[k])
        for k in (
            "active",
            "cot_share",
            "pivot_share",
            "cover_share",
            "cot_habit",
            "script_share",
            "cot_system_share",
            "failover_share",
            "shared_card_share",
            "launched_share",
            "gateway_share",
            "no_card_share",
            "company_card_share",
            "focus",
            "dynamic_ip_share",
            "spread",
        ):
            if k in params and not 0.0 <= params[k] <= 1.0:
                raise bad(f"{where}.{k}", f"must be between 0 and 1, got {params[k]}")
        if params.get("spread", 0.0) > 0 and arch != "adaptive":
            raise bad(f"{where}.spread", f"only adaptive campaigns draw per-account shares, not {arch!r}")
        if params["accounts"] < 0:
            raise bad(f"{where}.accounts", "must be >= 0")
        if params["rate"] <= 0:
            raise bad(f"{where}.rate", "must be > 0")
        for k in (
            "group_size",
            "homework_set",
            "card_group",
            "nat_prefixes",
            "sweep_days",
            "samples",
            "gateway_prefixes",
            "curriculum",
            "samples_max",
            "overlap",
        ):
            if k in params and params[k] < 1:
                raise bad(f"{where}.{k}", "must be >= 1")
        for k in ("ip_change_days", "popularity"):
            if k in params and params[k] <= 0:
                raise bad(f"{where}.{k}", f"must be > 0, got {params[k]}")
        for k in ("signup_spread_days", "account_age_days"):
            if k in params and params[k] < 0:
                raise bad(f"{where}.{k}", f"must be >= 0, got {params[k]}")
        if not 0 <= params["start_day"] < days:
            raise bad(f"{where}.start_day", f"must be in 0..{days - 1}")
        if params["end_day"] != -1 and not params["start_day"] <= params["end_day"] < days + 1000:
            raise bad(f"{where}.end_day", "must be -1 or >= start_day")
        for k, allowed in ENUM_PARAMS.items():
            if k in params and params[k] not in allowed:
                raise bad(f"{where}.{k}", f"{params[k]!r} is not one of {', '.join(allowed)}")
        if arch in PLAYBOOKS:
            cid = params["campaign"]
            if not cid:
                raise bad(
                    f"{where}.campaign", 'a campaign playbook needs a campaign id, e.g. campaign = "sim-c01"'
                )
            if cid == "benign":
                raise bad(f"{where}.campaign", "'benign' is reserved")
            if cid in campaigns:
                raise bad(f"{where}.campaign", f"{cid!r} is used twice")
            campaigns[cid] = arch
            for cap in params["capabilities"]:
                if cap not in CAPABILITIES:
                    raise bad(f"{where}.capabilities", f"{cap!r} is not one of {', '.join(CAPABILITIES)}")
            if not params["capabilities"]:
                raise bad(f"{where}.capabilities", "needs at least one capability")
            for lang in params["languages"]:
                if lang not in LANGUAGES:
                    raise bad(f"{where}.languages", f"{lang!r} is not one of {', '.join(LANGUAGES)}")
            fd = params["failover_day"]
            if fd != -1 and not params["start_day"] < fd < days:
                raise bad(f"{where}.failover_day", f"must be -1 or in {params['start_day'] + 1}..{days - 1}")
            if fd != -1 and params["standby_accounts"] < 1:
                raise bad(f"{where}.standby_accounts", "failover needs standby_accounts >= 1")
            if params["pivot"] and not models["release"]:
                raise bad(f"{where}.pivot", "pivot = true needs models.release and models.release_day")
            _campaign_knobs(params, given, where, bad)
        name = params["name"] or (params.get("campaign") or arch)
        if name in seen_names:
            raise bad(f"{where}.name", f"{name!r} is used twice; give each population a distinct name")
        seen_names.add(name)
        params["name"] = name
        params.pop("archetype", None)
        pops.append(PopulationSpec(name, arch, params))
    return Scenario(top["name"], top["description"], start, days, models, tuple(pops), source)


def _campaign_knobs(params: dict[str, Any], given: set[str], where: str, bad: Any) -> None:
    """Check the evasion knobs of one campaign together and resolve what they imply.

    A knob the file sets explicitly is never overridden; a playbook default that a chosen knob makes
    meaningless is (e.g. the injected instruction of ``cot_harvest`` under ``elicitation = "varied"``).
    """
    lo, hi = params["rate_min"], params["rate_max"]
    if (lo > 0) != (hi > 0) or lo < 0 or hi < lo:
        key = "rate_max" if "rate_max" in given else "rate_min"
        raise bad(
            f"{where}.{key}", f"give both rate_min and rate_max, 0 < rate_min <= rate_max (got {lo}, {hi})"
        )
    if params["elicitation"] != "fixed" and params["injected_instruction"]:
        if "injected_instruction" in given:
            raise bad(
                f"{where}.injected_instruction",
                f'a fixed injected instruction contradicts elicitation = "{params["elicitation"]}"',
            )
        params["injected_instruction"] = False
    if params["elicitation"] == "none" and params["cot_share"] > 0:
        if "cot_share" in given:
            raise bad(
                f"{where}.cot_share", 'elicitation = "none" asks for no chain-of-thought; drop cot_share'
            )
        params["cot_share"] = 0.0
    if params["signup_spread_days"] > 0 and params["signup_bursts"] > 0:
        if "signup_bursts" in given:
            raise bad(
                f"{where}.signup_spread_days", "sign-ups are either spread or in bursts; set one of them"
            )
        params["signup_bursts"] = 0
    # (aged accounts used to win silently over bursts, so a burst set on `adaptive`, whose accounts are
    # aged by default, made none)
    if params["signup_bursts"] > 0 and params["account_age_days"] > 0:
        if "signup_bursts" in given and "account_age_days" in given:
            raise bad(
                f"{where}.account_age_days",
                "accounts are either aged or signed up in bursts just before use; set one of them",
            )
        if "signup_bursts" in given:
            params["account_age_days"] = 0
        else:
            params["signup_bursts"] = 0
    if params["dataset_sources"] != "all" and not params["partition"]:
        raise bad(
            f"{where}.dataset_sources", "chooses the pools of a partitioned harvest; set partition = true"
        )
    if params["partition"] and not set(params["capabilities"]) & set(DATASET_CAPABILITIES):
        raise bad(
            f"{where}.partition",
            "partitions dataset items, but none of the capabilities is one of "
            + ", ".join(DATASET_CAPABILITIES),
        )


def load_scenario(spec: str | Path | None) -> Scenario:
    """A built-in scenario by name, or a TOML/YAML file by path."""
    spec = spec or "default"
    text: str
    p = Path(spec)
    if str(spec) in builtin_names():
        res = resources.files("distillguard.simulate") / "scenarios"
        f = next(x for x in res.iterdir() if x.name.rsplit(".", 1)[0] == str(spec))
        text, source, suffix = (
            f.read_text(encoding="utf-8"),
            f"builtin:{spec}",
            "." + f.name.rsplit(".", 1)[1],
        )
    elif p.is_file():
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"scenario {p}: cannot read ({exc})") from exc
        source, suffix = str(p), p.suffix.lower()
    else:
        raise UsageError(
            f"scenario {spec!r}: neither a built-in scenario ({', '.join(builtin_names())}) "
            "nor an existing file"
        )
    try:
        if suffix == ".toml":
            raw = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            raw = yaml.safe_load(text)
        else:
            raise UsageError(f"scenario {source}: use a .toml, .yaml or .yml file")
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"scenario {source}: not valid TOML ({exc})") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"scenario {source}: not valid YAML ({exc})") from exc
    return parse_scenario(raw, source)
