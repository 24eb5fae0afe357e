"""Hard look-alikes: legitimate customers that share what distillation campaigns share.

Each archetype here is a real kind of customer that carries one or more of the traits a naive
detector keys on, so a detector that flags on that trait alone produces false positives:

``startup_cohort``
    An accelerator batch: ``group_size`` startup-tier accounts signed up within hours of each other
    from the accelerator's office /24 (a sign-up burst), with product domains that look throwaway
    (``trylumo.ai``, ``getvenra.dev``) but are real, ``shared_card_share`` of them on the accelerator's
    card, about half unverified. Each startup builds a *different* product: its own system prompt
    (contract summariser, maths tutor that thinks step by step, essay grader, coding agent, SQL
    assistant, ...) and the prompt kind that goes with it; ``launched_share`` already serve end users
    around the clock from a cloud backend.
``carrier_nat``
    Thousands of unrelated casual users of one mobile carrier: every request leaves through one of
    ``nat_prefixes`` carrier-grade-NAT /24 prefixes of one ASN (a new address each session, so IPs
    rotate and prefixes are shared), mobile browsers, human hours, multi-turn chats, own e-mail and
    card.
``research_lab``
    Verified research-tier labs of ``group_size`` accounts on one card, running from one datacenter
    /24: a chain-of-thought evaluation sweep over GSM8K/MATH-style problems with one fixed instruction
    ("Please reason step by step, and put your final answer within \\boxed{}."), each problem sampled
    ``samples`` times, across models and temperatures, for ``sweep_days`` days only. The closest thing
    to a harvest, but verified, aged, few accounts, bounded in time.
``reward_model_vendor``
    An enterprise data-labelling vendor (``group_size`` verified accounts, one card, one org, one
    datacenter /24) using the model as a rubric grader at high volume with one grading template.
``reseller_customers``
    The end customers of a legitimate reseller / bring-your-own-key gateway: unrelated accounts (own
    sign-up, e-mail, card, country) whose ``gateway_share`` of sessions leave from the gateway's
    ``gateway_prefixes`` datacenter /24s with the gateway's user agent; the rest come from home.

``ACCOUNTS[arch](pop, rng, st, n)`` finishes the account table that the common benign set-up began;
``CONTENT[arch](pop, rng, arr, d)`` returns a day's content columns (prompt, system, tools, out, and
where they differ per row: ip, asn, country, user_agent, model, temperature, max_tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from distillguard.simulate import infra
from distillguard.simulate import text as T
from distillguard.simulate.render import draw, render
from distillguard.simulate.vec import DAY_US, HOUR_US, _append, _choice, _const, _maybe, _str, _where

if TYPE_CHECKING:
    from distillguard.simulate.populations import Population

#: size of each lab's fixed benchmark (problems iterated by the sweep)
LAB_BENCHMARK = 400


def _group_rng(pop: Population, tag: int, g: int) -> np.random.Generator:
    return np.random.default_rng([pop.seed, pop.key, tag, int(g)])


def _session_account(arr: dict) -> np.ndarray:
    """Account index of each session (sessions are numbered 0..s-1)."""
    sess = arr["sess"]
    out = np.zeros(int(sess.max()) + 1, dtype=np.int64)
    out[sess] = arr["acct"]
    return out


def _position(arr: dict) -> np.ndarray:
    """Position of each request inside its session (sessions are contiguous and ascending)."""
    sess = arr["sess"]
    return np.arange(len(sess)) - np.searchsorted(sess, sess)


def _dc_prefix(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``k`` datacenter /24 prefixes: (asn, salt, third octet, country index into DATACENTERS)."""
    idx = rng.integers(0, len(infra.DATACENTERS), k)
    asn = np.array([d[0] for d in infra.DATACENTERS], dtype=np.int64)[idx]
    return asn, rng.integers(0, 4, k), rng.integers(0, 256, k), idx


def _dc_country_tz(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cty = np.array([d[1] for d in infra.DATACENTERS], dtype=object)[idx]
    tz = np.array([d[2] for d in infra.DATACENTERS], dtype=np.int64)[idx]
    return cty, tz


def _aged(pop: Population, rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    return pop.t0 - (rng.uniform(lo, hi, n) * DAY_US).astype(np.int64)


# ------------------------------------------------------------------------------------ startup_cohort


def _startup_domains(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct product names and domains like ``trylumo.ai`` (drawn without replacement)."""
    sy, en, pr, tl = T.STARTUP_SYLLABLES, T.STARTUP_ENDINGS, T.STARTUP_PREFIXES, T.STARTUP_TLDS
    space = len(sy) ** 2 * len(en) * len(pr) * len(tl)
    code = rng.choice(space, size=n, replace=n > space)
    code, a = np.divmod(code, len(sy))
    code, b = np.divmod(code, len(sy))
    code, e = np.divmod(code, len(en))
    t, p = np.divmod(code, len(pr))
    df = pl.DataFrame(
        {
            "a": np.asarray(sy, dtype=object)[a].astype(str),
            "b": np.asarray(sy, dtype=object)[b].astype(str),
            "e": np.asarray(en, dtype=object)[e].astype(str),
            "p": np.asarray(pr, dtype=object)[p].astype(str),
            "t": np.asarray(tl, dtype=object)[t].astype(str),
        }
    ).with_columns(pl.concat_str("a", "b", "e").alias("name"))
    names = df.select(pl.col("name").str.to_titlecase())[:, 0].to_numpy().astype(object)
    domains = df.select(pl.concat_str("p", "name", "t"))[:, 0].to_numpy().astype(object)
    return names, domains


def startup_accounts(pop: Population, rng: np.random.Generator, st: dict, n: int) -> None:
    sp = pop.spec
    groups = np.arange(n) // sp["group_size"]
    k = int(groups.max()) + 1
    acc = rng.integers(0, len(infra.ACCELERATORS), k)
    a_asn = np.array([a[0] for a in infra.ACCELERATORS], dtype=np.int64)[acc]
    a_cty = np.array([a[1] for a in infra.ACCELERATORS], dtype=object)[acc]
    a_tz = np.array([a[2] for a in infra.ACCELERATORS], dtype=np.int64)[acc]
    salt, third = rng.integers(0, 8, k), rng.integers(0, 256, k)
    st["group"] = groups
    st["tier"] = np.full(n, "startup", dtype=object)
    st["country"] = a_cty[groups]
    st["signup_country"] = st["country"].copy()
    st["tz"] = a_tz[groups]
    # onboarding day: the whole batch signs up from the accelerator's office /24 within hours
    office_ip = infra.prefix_hosts(a_asn[groups], salt[groups], third[groups], rng.integers(0, 6, n))
    st["signup_ip"] = office_ip
    last = pop.t0 + (pop.days - 1) * DAY_US
    center = pop.t0 + sp["start_day"] * DAY_US + (rng.uniform(-6, 3, k) * DAY_US).astype(np.int64)
    center = np.minimum(center, last - 12 * HOUR_US)
    st["created"] = center[groups] + np.abs(rng.normal(0, 2 * HOUR_US, n)).astype(np.int64)
    names, domains = _startup_domains(rng, n)
    st["startup_name"] = names
    st["email_domain"] = np.where(rng.random(n) < 0.15, st["email_domain"], domains)  # some founders: gmail
    acc_card = infra.hex_ids(rng, k, "pf_", 8)
    own_card = infra.hex_ids(rng, n, "pf_", 8)
    st["payment"] = np.where(rng.random(n) < sp["shared_card_share"], acc_card[groups], own_card)
    st["verified"] = rng.random(n) < 0.5
    launched = rng.random(n) < sp["launched_share"]
    in_office = (rng.random(n) < 0.45) & ~launched
    dc_asn, dc_ip, dc_cty, _ = infra.datacenter(rng, n)
    st["asn"] = np.where(in_office, a_asn[groups], dc_asn)
    st["ip"] = np.where(in_office, office_ip, dc_ip)
    st["country"] = np.where(in_office, st["country"], dc_cty)  # tz stays the founders' (the batch's)
    st["profile_alt"] = launched  # serving end users: the end-user curve instead of the founders' hours
    st["sys"] = rng.integers(0, len(T.STARTUP_PRODUCTS), n)
    st["vertical"] = draw(rng, T.STARTUP_VERTICALS, n)
    st["temp"] = _choice(rng, [0.0, 0.2, 0.3, 0.7, 1.0], [0.2, 0.25, 0.2, 0.25, 0.1], n).astype(float)
    st["ua"] = _choice(
        rng,
        ["OpenAI/Python 1.51.2", "anthropic-python/0.34.2", "OpenAI/JS 4.67.1", "langchain-core/0.3.10"],
        [0.35, 0.25, 0.25, 0.15],
        n,
    )


def startup_content(pop: Population, rng: np.random.Generator, arr: dict, d: int) -> dict:
    st, bank = pop.st, pop.bank
    acct = arr["acct"]
    r = len(acct)
    product = st["sys"][acct]
    system = render(
        rng,
        [p[0] for p in T.STARTUP_PRODUCTS],
        r,
        {"name": _str(st["startup_name"][acct]), "vertical": _str(st["vertical"][acct])},
        template_index=product,
    )
    prompt = _const("", r)
    out = np.full(r, "chat", dtype=object)
    for i, (_sys, kind, out_kind) in enumerate(T.STARTUP_PRODUCTS):
        m = product == i
        if not m.any():
            continue
        if kind == "essay":
            text = render(
                rng,
                [T.ESSAY],
                r,
                {
                    "question": bank.get("question", rng, r),
                    "answer": bank.get("answer", rng, r),
                    "answer2": bank.get("chat", rng, r),
                },
            )
        else:
            text = bank.get(kind, rng, r)
        prompt = _where(m, text, prompt)
        out = np.where(m, out_kind, out)
    agent = out == "agent"
    return {
        "prompt": prompt,
        "system": system,
        "tools": np.where(agent, 6, 0),
        "out": out,
        "max_tokens": np.where(agent, 4096, np.where(out == "cot", 2048, 1024)),
    }


# --------------------------------------------------------------------------------------- carrier_nat


def carrier_accounts(pop: Population, rng: np.random.Generator, st: dict, n: int) -> None:
    crng = _group_rng(pop, 0xCA, 0)
    asn, cty, tz = infra.CARRIERS[int(crng.integers(0, len(infra.CARRIERS)))]
    k = pop.spec["nat_prefixes"]
    pop.nat = (np.full(k, asn, dtype=np.int64), crng.integers(0, 8, k), crng.integers(0, 256, k))
    st["asn"] = np.full(n, asn, dtype=np.int64)
    st["country"] = np.full(n, cty, dtype=object)
    st["signup_country"] = st["country"].copy()
    st["tz"] = np.full(n, tz, dtype=np.int64)
    st["ip"] = _nat_ips(pop, rng, n)
    st["signup_ip"] = _nat_ips(pop, rng, n)
    st["ua"] = infra.weighted_choice(rng, infra.MOBILE_USER_AGENTS, infra.MOBILE_USER_AGENTS_W, n)
    st["org_id"] = _maybe(rng, st["org_id"], 0.85)
    st["verified"] = rng.random(n) < 0.2


def _nat_ips(pop: Population, rng: np.random.Generator, n: int) -> np.ndarray:
    asn, salt, third = pop.nat
    p = rng.integers(0, len(asn), n)
    return infra.prefix_hosts(asn[p], salt[p], third[p], rng.integers(0, 254, n))


def carrier_content(pop: Population, rng: np.random.Generator, arr: dict, d: int) -> dict:
    bank = pop.bank
    turn = arr["turn"]
    r = len(turn)
    first = _where(rng.random(r) < 0.8, bank.get("chat", rng, r), bank.get("question", rng, r))
    prompt = _where(turn == 0, first, bank.get("followup", rng, r))
    ip = _nat_ips(pop, rng, int(arr["sess"].max()) + 1)[arr["sess"]]  # a new NAT mapping per session
    return {"prompt": prompt, "system": _const(None, r), "out": np.full(r, "chat", dtype=object), "ip": ip}


# -------------------------------------------------------------------------------------- research_lab


def lab_accounts(pop: Population, rng: np.random.Generator, st: dict, n: int) -> None:
    sp = pop.spec
    groups = np.arange(n) // sp["group_size"]
    k = int(groups.max()) + 1
    st["group"] = groups
    st["tier"] = np.full(n, "research", dtype=object)
    st["verified"] = np.ones(n, dtype=bool)
    st["created"] = _aged(pop, rng, n, 120, 700)
    asn, salt, third, dci = _dc_prefix(rng, k)
    cty, tz = _dc_country_tz(dci)
    st["asn"] = asn[groups]
    st["ip"] = infra.prefix_hosts(asn[groups], salt[groups], third[groups], rng.integers(0, 16, n))
    st["country"], st["tz"] = cty[groups], tz[groups]
    st["signup_ip"], st["signup_country"] = st["ip"].copy(), st["country"].copy()
    st["email_domain"] = draw(rng, T.LAB_DOMAINS, k)[groups]
    st["payment"] = infra.hex_ids(rng, k, "pf_", 8)[groups]
    st["org_id"] = infra.hex_ids(rng, k, "org_", 6)[groups]
    st["ua"] = draw(rng, T.LAB_USER_AGENTS, k)[groups]
    # the sweep: sweep_days consecutive days somewhere in the population's window, per lab
    last = pop.days - 1 if sp["end_day"] == -1 else min(sp["end_day"], pop.days - 1)
    room = max(1, last - sp["start_day"] - sp["sweep_days"] + 2)
    begin = sp["start_day"] + rng.integers(0, room, k)
    st["start_day"] = begin[groups]
    st["end_day"] = np.minimum(begin + sp["sweep_days"] - 1, last)[groups]
    # per lab: one instruction (in the system prompt or after each problem), one benchmark
    pop.labs = []
    for g in range(k):  # a handful of labs, not rows
        lrng = _group_rng(pop, 0x1AB, g)
        fmt = "gsm8k" if lrng.random() < 0.5 else "math"
        pop.labs.append(
            {
                "instruction": T.LAB_INSTRUCTIONS[int(lrng.integers(0, len(T.LAB_INSTRUCTIONS)))],
                "in_system": bool(lrng.random() < 0.4),
                "bench": pop.bank.eval_items(fmt, lrng, LAB_BENCHMARK).to_numpy().astype(object),
            }
        )


def lab_content(pop: Population, rng: np.random.Generator, arr: dict, d: int) -> dict:
    st = pop.st
    acct = arr["acct"]
    r = len(acct)
    sess = arr["sess"]
    s = int(sess.max()) + 1
    pos = _position(arr)
    samples = pop.spec["samples"]
    offset = rng.integers(0, LAB_BENCHMARK, s)
    item = (offset[sess] + pos // samples) % LAB_BENCHMARK  # iterate over the benchmark, k samples each
    lab = st["group"][acct]
    problem = np.empty(r, dtype=object)
    system = np.full(r, None, dtype=object)
    suffix = np.full(r, None, dtype=object)
    for g in np.unique(lab):
        m = lab == g
        spec = pop.labs[int(g)]
        problem[m] = spec["bench"][item[m]]
        if spec["in_system"]:
            system[m] = spec["instruction"]
        else:
            suffix[m] = spec["instruction"]
    prompt = _append(_str(problem), suffix, np.not_equal(suffix, None), "\n\n")
    # one run = one model and one temperature; runs compare models, the new release included
    models = pop.model_names
    model_s = models[rng.integers(0, len(models), s)]
    if pop.release is not None:
        rel = rng.random(s) < 0.35
        model = np.where(rel[sess] & (arr["ts"] >= pop.release_us), pop.release, model_s[sess])
    else:
        model = model_s[sess]
    temp_s = _choice(rng, [0.0, 0.6, 1.0], [0.4, 0.4, 0.2], s).astype(float)
    return {
        "prompt": prompt,
        "system": _str(system),
        "out": np.full(r, "cot", dtype=object),
        "max_tokens": np.full(r, 16384),
        "temperature": temp_s[sess],
        "model": model,
    }


# ------------------------------------------------------------------------------- reward_model_vendor


def vendor_accounts(pop: Population, rng: np.random.Generator, st: dict, n: int) -> None:
    sp = pop.spec
    groups = np.arange(n) // sp["group_size"]
    k = int(groups.max()) + 1
    st["group"] = groups
    st["tier"] = np.full(n, "enterprise", dtype=object)
    st["verified"] = np.ones(n, dtype=bool)
    st["created"] = _aged(pop, rng, n, 90, 500)
    asn, salt, third, dci = _dc_prefix(rng, k)
    cty, tz = _dc_country_tz(dci)
    st["asn"] = asn[groups]
    st["ip"] = infra.prefix_hosts(asn[groups], salt[groups], third[groups], rng.integers(0, 8, n))
    st["country"], st["tz"] = cty[groups], tz[groups]
    st["signup_ip"], st["signup_country"] = st["ip"].copy(), st["country"].copy()
    domain = draw(rng, T.LABEL_VENDORS, k)
    st["email_domain"] = domain[groups]
    st["payment"] = infra.hex_ids(rng, k, "pf_", 8)[groups]
    st["org_id"] = infra.hex_ids(rng, k, "org_", 6)[groups]
    ua = np.array([f"{dm.split('.')[0]}-pipeline/2.1 python-httpx/0.27.2" for dm in domain], dtype=object)
    st["ua"] = ua[groups]
    st["temp"] = np.zeros(n)
    st["sys"] = rng.integers(0, len(T.RM_TEMPLATES), k)[groups]  # one grading template per vendor
    crit = np.asarray(T.RUBRIC_CRITERIA, dtype=object)
    pop.vendor_criteria = np.stack([rng.choice(crit, 3, replace=False) for _ in range(k)])
    pop.vendor_company = np.array([dm.split(".")[0].capitalize() for dm in domain], dtype=object)


def vendor_content(pop: Population, rng: np.random.Generator, arr: dict, d: int) -> dict:
    st, bank = pop.st, pop.bank
    acct = arr["acct"]
    r = len(acct)
    g = st["group"][acct]
    criteria = pop.vendor_criteria[g, rng.integers(0, pop.vendor_criteria.shape[1], r)]
    prompt = render(
        rng,
        T.RM_TEMPLATES,
        r,
        {
            "criteria": _str(criteria),
            "question": bank.get("question", rng, r),
            "answer": bank.get("answer", rng, r),
            "answer2": bank.get("answer", rng, r),
        },
        template_index=st["sys"][acct],
    )
    system = render(rng, [T.RM_SYSTEM], r, {"company": _str(pop.vendor_company[g])})
    return {
        "prompt": prompt,
        "system": system,
        "out": np.full(r, "json", dtype=object),
        "max_tokens": np.full(r, 256),
    }


# -------------------------------------------------------------------------------- reseller_customers


def reseller_accounts(pop: Population, rng: np.random.Generator, st: dict, n: int) -> None:
    sp = pop.spec
    crng = _group_rng(pop, 0x6A7E, 0)
    _domain, ua = T.RESELLERS[int(crng.integers(0, len(T.RESELLERS)))]
    k = sp["gateway_prefixes"]
    asn, _salt, _third, dci = _dc_prefix(crng, 1)
    cty, _tz = _dc_country_tz(dci)
    pop.gateway = {
        "ua": ua,
        "asn": int(asn[0]),
        "country": str(cty[0]),
        "salt": crng.integers(0, 4, k),
        "third": crng.integers(0, 256, k),
    }
    st["gw_share"] = np.clip(sp["gateway_share"] + rng.normal(0, 0.15, n), 0.0, 1.0)
    st["use"] = _choice(rng, [0, 1, 2, 3], [0.35, 0.3, 0.2, 0.15], n).astype(np.int64)  # chat/dev/app/agent
    st["sys"] = rng.integers(0, 1 << 30, n)
    st["cot_habit"] = rng.random(n) < 0.15


def reseller_content(pop: Population, rng: np.random.Generator, arr: dict, d: int) -> dict:
    st, bank, gw = pop.st, pop.bank, pop.gateway
    acct, turn, sess = arr["acct"], arr["turn"], arr["sess"]
    r = len(acct)
    use = st["use"][acct]
    chat = bank.get("chat", rng, r)
    dev = bank.get("dev", rng, r)
    prompt = _where(use == 1, dev, chat)
    prompt = _where(use == 2, bank.get("support", rng, r), prompt)
    prompt = _where(use == 3, bank.get("agent_task", rng, r), prompt)
    prompt = _where(turn == 0, prompt, bank.get("followup", rng, r))
    demand = draw(rng, [*T.COT_DEMANDS["en"][:3], "think step by step"], r)
    prompt = _append(prompt, demand, st["cot_habit"][acct] & (rng.random(r) < 0.5))
    sysn = st["sys"][acct]
    safe = np.asarray([0, 1, 4, 6, 7])[sysn % 5]  # customer apps without step-by-step system prompts
    company = np.asarray(T.COMPANIES, dtype=object)[sysn % len(T.COMPANIES)]
    app_sys = render(rng, T.APP_SYSTEMS, r, {"company": _str(company)}, template_index=safe)
    ide_sys = render(
        rng,
        ["You are a helpful coding assistant inside {company}'s IDE plugin."],
        r,
        {"company": _str(company)},
    )
    system = _where(use == 2, app_sys, _where(use == 3, ide_sys, _const(None, r)))
    # a session goes through the gateway (its /24s, its user agent) or straight from home
    s = int(sess.max()) + 1
    via = (rng.random(s) < st["gw_share"][_session_account(arr)])[sess]
    p = rng.integers(0, len(gw["salt"]), s)[sess]
    gw_ip = infra.prefix_hosts(
        np.full(r, gw["asn"], dtype=np.int64), gw["salt"][p], gw["third"][p], rng.integers(0, 8, r)
    )
    return {
        "prompt": prompt,
        "system": system,
        "tools": np.where(use == 3, 4, 0),
        "out": np.where(use == 3, "agent", "chat"),
        "ip": np.where(via, gw_ip, st["ip"][acct]),
        "asn": np.where(via, gw["asn"], st["asn"][acct]),
        "country": np.where(via, gw["country"], st["country"][acct]),
        "user_agent": np.where(via, gw["ua"], st["ua"][acct]),
    }


ACCOUNTS: dict[str, Callable[..., None]] = {
    "startup_cohort": startup_accounts,
    "carrier_nat": carrier_accounts,
    "research_lab": lab_accounts,
    "reward_model_vendor": vendor_accounts,
    "reseller_customers": reseller_accounts,
}
CONTENT: dict[str, Callable[..., dict]] = {
    "startup_cohort": startup_content,
    "carrier_nat": carrier_content,
    "research_lab": lab_content,
    "reward_model_vendor": vendor_content,
    "reseller_customers": reseller_content,
}
