"""Look-alikes of adaptive campaigns: legitimate customers that show what an adaptive operator still shows.

An adaptive campaign (playbook ``adaptive``) hides every published tell; what is left is public
dataset items (math, code, instructions), chain-of-thought asked for in ordinary words, a power
user's volume, residential addresses that change now and then, human hours. These customers show the
same, for their own reasons, and differ from a campaign only in what a careful detector may use:

``tutoring_product``
    An ed-tech product's backend (``group_size`` accounts per product, one card, a cloud backend):
    a tutor system prompt asking for step-by-step explanations, students' homework questions from
    the same public math and coding sets, many students behind one account. Popular questions come
    back again and again (Zipf ``popularity`` over a ``curriculum`` of items), students follow up
    ("I don't understand step 2"), in students' hours of the product's market.
``ml_researcher``
    Individual researchers evaluating models on public benchmarks (GSM8K test, MATH-500, HumanEval,
    MBPP): runs over a benchmark's canonical items in one format each (few-shot chain-of-thought,
    "Let's think step by step", \\boxed{} instructions, plain), some sampled up to ``samples_max``
    times, the same items in every run and for every researcher, from campus, home or a GPU box.
``labelling_contractor``
    Annotators of contracted data-labelling vendors (``group_size`` per vendor, in one country):
    instruction-style items from the vendor's task queue, each item worked on by ``overlap``
    annotators on average, mostly in the vendor's guideline template, refined over a few turns, in
    eight-hour shifts; home connections whose address changes every ~``ip_change_days`` days;
    ``company_card_share`` on the vendor's card, the rest their own card or none.
``content_agency``
    Small agencies (``group_size`` staff accounts each, one card) running one template over client
    documents (rewrite, summarise, headlines) in office hours, from the office or home.

``ACCOUNTS[arch](pop, rng, st, n)`` finishes the account table that the common benign set-up began;
``CONTENT[arch](pop, rng, arr, d)`` returns a day's content columns (see :mod:`.lookalikes`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from distillguard.simulate import infra
from distillguard.simulate import text as T
from distillguard.simulate.lookalikes import _aged, _dc_prefix, _group_rng, _position, _session_account
from distillguard.simulate.render import draw, ints, render
from distillguard.simulate.vec import _choice, _const, _str, _where

if TYPE_CHECKING:
    from distillguard.simulate.populations import Population


def _concat(*parts: pl.Series | np.ndarray) -> pl.Series:
    return pl.DataFrame({f"c{i}": _str(p) for i, p in enumerate(parts)}).select(
        pl.concat_str([f"c{i}" for i in range(len(parts))])
    )[:, 0]


def _country_index(codes: list[str]) -> np.ndarray:
    """Indices into infra.COUNTRIES of country codes (the first entry of each)."""
    known = [c[0] for c in infra.COUNTRIES]
    return np.array([known.index(c) for c in codes], dtype=np.int64)


# ---------------------------------------------------------------------------------- tutoring_product


def tutoring_accounts(pop: Population, rng: np.random.Generator, st: dict, n: int) -> None:
    sp = pop.spec
    groups = np.arange(n) // sp["group_size"]
    k = int(groups.max()) + 1
    st["group"] = groups
    st["tier"] = _choice(rng, ["startup", "enterprise", "pro"], [0.5, 0.2, 0.3], k)[groups]
    st["verified"] = (rng.random(k) < 0.6)[groups]
    market = infra.sample_countries(rng, k)  # where the students are
    st["tz"] = infra.country_tz(market)[groups]
    asn, salt, third, dci = _dc_prefix(rng, k)  # the backend runs in a cloud
    st["asn"] = asn[groups]
    st["ip"] = infra.prefix_hosts(asn[groups], salt[groups], third[groups], rng.integers(0, 12, n))
    st["country"] = np.array([d[1] for d in infra.DATACENTERS], dtype=object)[dci][groups]
    st["signup_ip"] = infra.home_network(rng, market)[1][groups]  # a founder signed up from home
    st["signup_country"] = infra.country_code(market)[groups]
    names = draw(rng, T.TUTOR_NAMES, k)
    suffix = infra.hex_ids(rng, k, "", 1)
    st["email_domain"] = np.array(
        [
            f"{a.lower()}{b}.{t}"
            for a, b, t in zip(names, suffix, draw(rng, ["com", "io", "app", "ai"], k), strict=True)
        ],
        dtype=object,
    )[groups]
    st["payment"] = infra.hex_ids(rng, k, "pf_", 8)[groups]
    st["org_id"] = infra.hex_ids(rng, k, "org_", 6)[groups]
    st["created"] = _aged(pop, rng, n, 20, 700)
    st["ua"] = _choice(
        rng,
        ["OpenAI/Python 1.51.2", "OpenAI/JS 4.67.1", "langchain-core/0.3.10", "python-httpx/0.27.2"],
        [0.35, 0.35, 0.15, 0.15],
        k,
    )[groups]
    # per product: its tutor prompt, subject (maths, programming or all of STEM), settings, curriculum
    st["sys"] = rng.integers(0, len(T.TUTOR_SYSTEMS), k)[groups]
    focus = rng.choice(3, size=k, p=[0.35, 0.2, 0.45])  # maths, programming, every subject
    subject = np.select(
        [focus == 0, focus == 1],
        [draw(rng, T.TUTOR_SUBJECTS[:3], k), draw(rng, T.TUTOR_SUBJECTS[3:6], k)],
        draw(rng, T.TUTOR_SUBJECTS[6:], k),
    )
    pop.tutor = {
        "name": names.astype(object),
        "subject": subject.astype(object),
        "max_tokens": _choice(rng, [1024, 2048, 4096, -1], [0.3, 0.35, 0.2, 0.15], k).astype(np.int64),
        "curriculum": [],
    }
    st["temp"] = _choice(rng, [0.3, 0.5, 0.7, 1.0], [0.3, 0.3, 0.3, 0.1], k).astype(float)[groups]
    # the subject's share of maths, programming and general questions (explain, write, define)
    mix = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.4, 0.25, 0.35]])[focus]
    kinds = (("reasoning", "homework", 2), ("coding", "code", None), ("general", "instruction", None))
    for g in range(k):  # a handful of products, not rows
        grng = _group_rng(pop, 0x7E7, g)
        parts = []
        for (cap, kind, first), share in zip(kinds, mix[g], strict=True):
            size = max(1, round(sp["curriculum"] * share))
            items = pop.bank.dataset(T.DATASET_SOURCES[cap][:first])  # maths: GSM8K and MATH
            if items is None:
                parts.append(pop.bank.pool(kind, grng, size))
            else:
                parts.append(items[grng.choice(len(items), size=min(size, len(items)), replace=False)])
        pool = np.concatenate(parts)
        pool = pool[grng.permutation(len(pool))]  # popularity: a random order, Zipf weights
        w = 1.0 / np.arange(1, len(pool) + 1) ** sp["popularity"]
        pop.tutor["curriculum"].append((pool, w / w.sum()))


def tutoring_content(pop: Population, rng: np.random.Generator, arr: dict, d: int) -> dict:
    st, tut = pop.st, pop.tutor
    acct, turn = arr["acct"], arr["turn"]
    r = len(acct)
    g = st["group"][acct]
    question = np.empty(r, dtype=object)
    pick = rng.random(r)
    for prod in np.unique(g):  # products (tens), not rows
        m = g == prod
        pool, w = tut["curriculum"][int(prod)]
        question[m] = pool[np.minimum(np.searchsorted(np.cumsum(w), pick[m]), len(pool) - 1)]
    lead = draw(rng, T.STUDENT_LEADS, r)
    follow = render(rng, T.STUDENT_FOLLOWUPS, r, {"a": ints(2, 120), "error": T.ERRORS})
    prompt = _where(turn == 0, _concat(lead, question), follow)
    system = render(
        rng,
        T.TUTOR_SYSTEMS,
        r,
        {"name": _str(tut["name"][g]), "subject": _str(tut["subject"][g])},
        template_index=st["sys"][acct],
    )
    return {
        "prompt": prompt,
        "system": system,
        "out": np.where((turn == 0) | (rng.random(r) < 0.7), "cot", "chat"),  # the tutor explains again
        "max_tokens": tut["max_tokens"][g],
    }


# ------------------------------------------------------------------------------------- ml_researcher

#: where a researcher's run leaves from
_CAMPUS, _HOME, _GPU = 0, 1, 2


def _benchmarks(pop: Population) -> dict[str, np.ndarray]:
    """The canonical items of each benchmark: the first items of its split (built in: a fixed set,
    the same for every seed and population, as a public benchmark is)."""
    out = {}
    for b, (corpus, split, size, family) in T.BENCHMARKS.items():
        items = pop.bank.dataset((corpus,), split)
        if items is None:
            brng = np.random.default_rng([0xBE7C, list(T.BENCHMARKS).index(b)])
            kind = {"math": "math", "code": "code", "chat": "question"}[family]
            items = pop.bank.get(kind, brng, size).to_numpy().astype(object)
        out[b] = items[:size]
    return out


def researcher_accounts(pop: Population, rng: np.random.Generator, st: dict, n: int) -> None:
    st["verified"] = rng.random(n) < 0.35
    has_campus = rng.random(n) < 0.7
    campus = rng.integers(0, len(infra.CAMPUSES), n)
    c_asn = np.array([c[0] for c in infra.CAMPUSES], dtype=np.int64)[campus]
    c_cty = np.array([c[1] for c in infra.CAMPUSES], dtype=object)[campus]
    c_tz = np.array([c[2] for c in infra.CAMPUSES], dtype=np.int64)[campus]
    c_dom = np.array([c[3] for c in infra.CAMPUSES], dtype=object)[campus]
    # campus NAT: a few egress addresses per campus, shared with everyone there
    c_ip = infra.prefix_hosts(c_asn, c_asn % 8, c_asn % 251, rng.integers(0, 6, n))
    known = [c[0] for c in infra.COUNTRIES]
    home_cidx = np.array([known.index(c) if c in known else 0 for c in c_cty], dtype=np.int64)
    home_cidx = np.where(has_campus, home_cidx, infra.sample_countries(rng, n))
    h_asn, h_ip = infra.home_network(rng, home_cidx)
    g_asn, g_ip, g_cty, _tz = infra.datacenter(rng, n)
    st["net"] = {
        "asn": np.stack([np.where(has_campus, c_asn, h_asn), h_asn, g_asn], axis=1),
        "ip": np.stack([np.where(has_campus, c_ip, h_ip), h_ip, g_ip], axis=1),
        "country": np.stack(
            [
                np.where(has_campus, c_cty, infra.country_code(home_cidx)),
                infra.country_code(home_cidx),
                g_cty,
            ],
            axis=1,
        ),
    }
    st["has_campus"] = has_campus
    st["asn"], st["ip"] = st["net"]["asn"][:, 0], st["net"]["ip"][:, 0]
    st["country"] = st["net"]["country"][:, 0]
    st["tz"] = np.where(has_campus, c_tz, infra.country_tz(home_cidx))
    st["signup_ip"], st["signup_country"] = st["ip"].copy(), st["country"].copy()
    st["email_domain"] = np.where(has_campus & (rng.random(n) < 0.8), c_dom, st["email_domain"])
    st["created"] = _aged(pop, rng, n, 15, 900)
    st["ua"] = np.where(rng.random(n) < 0.5, draw(rng, T.LAB_USER_AGENTS, n), st["ua"])
    # each researcher's benchmarks: one to three of the four
    prefs = rng.random((n, len(T.BENCHMARKS))) < 0.45
    prefs[np.arange(n), rng.integers(0, len(T.BENCHMARKS), n)] = True
    st["bench"] = prefs
    pop.benchmarks = _benchmarks(pop)


def researcher_content(pop: Population, rng: np.random.Generator, arr: dict, d: int) -> dict:
    st = pop.st
    acct, sess = arr["acct"], arr["sess"]
    r = len(acct)
    s = int(sess.max()) + 1
    run_acct = _session_account(arr)
    names = list(T.BENCHMARKS)
    # per run: a benchmark among the researcher's, a format, greedy or sampled, a model, a start
    score = rng.random((s, len(names))) * st["bench"][run_acct]
    bench = np.argmax(score, axis=1)
    most = pop.spec["samples_max"]
    samples = (
        np.where(rng.random(s) < 0.6, 1, rng.integers(2, max(2, most) + 1, s))
        if most > 1
        else np.ones(s, int)
    )
    temp_s = np.where(
        samples == 1, 0.0, _choice(rng, [0.6, 0.7, 0.8, 1.0], [0.3, 0.4, 0.2, 0.1], s).astype(float)
    )
    start = np.where(rng.random(s) < 0.6, 0, rng.integers(0, 10_000, s))
    fmt_draw = rng.random(s)
    mt_s = _choice(rng, [512, 1024, 2048, 4096, -1], [0.15, 0.3, 0.25, 0.15, 0.15], s).astype(np.int64)
    where_s = np.where(
        st["has_campus"][run_acct],
        rng.choice(3, size=s, p=[0.55, 0.3, 0.15]),
        rng.choice(3, size=s, p=[0.0, 0.7, 0.3]),
    )
    pos = _position(arr)
    prompt = np.empty(r, dtype=object)
    out = np.empty(r, dtype=object)
    b_row = bench[sess]
    for bi in np.unique(b_row):  # four benchmarks, not rows
        m = b_row == bi
        name = names[int(bi)]
        items = pop.benchmarks[name]
        family = T.BENCHMARKS[name][3]
        idx = (start[sess[m]] + pos[m] // samples[sess[m]]) % len(items)
        formats = T.RESEARCH_FORMATS[family]
        f = np.minimum((fmt_draw[sess[m]] * len(formats)).astype(np.int64), len(formats) - 1)
        prompt[m] = render(
            rng, formats, int(m.sum()), {"item": _str(items[idx])}, template_index=f
        ).to_numpy()
        out[m] = {"math": "cot", "code": "completion", "chat": "chat"}[family]
    models = pop.model_names
    model_s = models[rng.integers(0, len(models), s)]
    if pop.release is not None:
        rel = rng.random(s) < 0.3
        model = np.where(rel[sess] & (arr["ts"] >= pop.release_us), pop.release, model_s[sess])
    else:
        model = model_s[sess]
    w = where_s[sess]
    net = st["net"]
    return {
        "prompt": _str(prompt),
        "system": _const(None, r),
        "out": out,
        "max_tokens": mt_s[sess],
        "temperature": temp_s[sess],
        "model": model,
        "ip": net["ip"][acct, w],
        "asn": net["asn"][acct, w],
        "country": net["country"][acct, w],
    }


# ------------------------------------------------------------------------------ labelling_contractor


def contractor_accounts(pop: Population, rng: np.random.Generator, st: dict, n: int) -> None:
    sp = pop.spec
    groups = np.arange(n) // sp["group_size"]
    k = int(groups.max()) + 1
    st["group"] = groups
    cidx = _country_index(list(draw(rng, T.LABEL_COUNTRIES, k)))[groups]
    st["country"] = infra.country_code(cidx)
    st["tz"] = infra.country_tz(cidx)
    st["signup_country"] = st["country"].copy()
    st["asn"] = infra.residential_asn(rng, cidx)
    pop._dynamic_addresses(rng, st, sp["ip_change_days"])
    st["created"] = _aged(pop, rng, n, 10, 400)
    st["ip"] = pop._dynamic_ip(np.arange(n), np.full(n, pop.t0), st)
    st["signup_ip"] = pop._dynamic_ip(np.arange(n), st["created"], st)
    company = rng.random(n) < sp["company_card_share"]
    vendor_card = infra.hex_ids(rng, k, "pf_", 8)
    free = ~company & (rng.random(n) < 0.3)
    st["payment"] = np.where(company, vendor_card[groups], np.where(free, None, st["payment"])).astype(object)
    st["tier"] = np.where(free, "free", "pro").astype(object)
    domain = draw(rng, T.LABEL_VENDOR_DOMAINS, k)
    st["email_domain"] = np.where(company, domain[groups], st["email_domain"])
    st["verified"] = rng.random(n) < np.where(company, 0.5, 0.2)
    st["org_id"] = np.where(company, infra.hex_ids(rng, k, "org_", 6)[groups], None).astype(object)
    browser = infra.USER_AGENTS_BROWSER[rng.integers(0, len(infra.USER_AGENTS_BROWSER), n)]
    st["ua"] = np.where(rng.random(n) < 0.6, browser, st["ua"])
    # eight-hour shifts in local time: morning, evening or (for clients abroad) night
    st["shift_start"] = _choice(rng, [6.0, 14.0, 22.0], [0.45, 0.4, 0.15], n).astype(float) + rng.uniform(
        -1, 1, n
    )
    st["shift_len"] = np.full(n, 8.0)
    st["sys"] = rng.integers(0, len(T.LABEL_GUIDELINES), k)  # per vendor (indexed by group)
    st["client"] = draw(rng, T.LABEL_CLIENTS, k)


def _queue(pop: Population, g: int, d: int, size: int) -> np.ndarray:
    """Vendor ``g``'s task queue on day ``d``: ``size`` items of its projects (instruction following,
    coding, maths reasoning), in the vendor's own mix."""
    mix = _group_rng(pop, 0x1AB, g).dirichlet([4.0, 1.5, 1.5])  # the vendor's projects, fixed
    grng = _group_rng(pop, 0x1AB0 + d, g)
    counts = grng.multinomial(size, mix)
    parts = []
    for cap, kind, c in zip(
        ("general", "coding", "reasoning"), ("instruction", "code", "math"), counts, strict=True
    ):
        items = pop.bank.dataset(T.DATASET_SOURCES[cap])
        parts.append(
            pop.bank.pool(kind, grng, c) if items is None else items[grng.integers(0, len(items), c)]
        )
    return np.concatenate(parts)


def contractor_content(pop: Population, rng: np.random.Generator, arr: dict, d: int) -> dict:
    st = pop.st
    acct, sess, turn = arr["acct"], arr["sess"], arr["turn"]
    r = len(acct)
    s = int(sess.max()) + 1
    s_acct = _session_account(arr)
    s_group = st["group"][s_acct]
    # every session works on one queue item; each item goes to `overlap` annotators on average
    item_s = np.empty(s, dtype=object)
    for g in np.unique(s_group):  # vendors, not rows
        m = s_group == g
        q = _queue(pop, int(g), d, max(1, int(np.ceil(m.sum() / pop.spec["overlap"]))))
        item_s[m] = q[rng.integers(0, len(q), int(m.sum()))]
    g_row = st["group"][acct]
    style = rng.choice(3, size=s, p=[0.6, 0.25, 0.15])[sess]  # guideline template, verbatim, grading
    task = render(rng, ["{a}-{b}"], r, {"a": ints(1000, 9999), "b": ints(10, 99)})
    guided = render(
        rng,
        T.LABEL_GUIDELINES,
        r,
        {"item": _str(item_s[sess]), "client": _str(st["client"][g_row]), "task": task},
        template_index=st["sys"][g_row],
    )
    grading = render(
        rng,
        [T.LABEL_GRADING],
        r,
        {
            "item": _str(item_s[sess]),
            "client": _str(st["client"][g_row]),
            "task": task,
            "answer": pop.bank.get("answer", rng, r),
        },
    )
    first = _where(style == 0, guided, _where(style == 1, _str(item_s[sess]), grading))
    prompt = _where(turn == 0, first, _str(draw(rng, T.LABEL_FOLLOWUPS, r)))
    return {
        "prompt": prompt,
        "system": _const(None, r),
        "out": np.where(style == 2, "short", "chat"),
    }


# ------------------------------------------------------------------------------------ content_agency


def agency_accounts(pop: Population, rng: np.random.Generator, st: dict, n: int) -> None:
    sp = pop.spec
    groups = np.arange(n) // sp["group_size"]
    k = int(groups.max()) + 1
    st["group"] = groups
    cidx = infra.sample_countries(rng, k)
    st["country"] = infra.country_code(cidx)[groups]
    st["signup_country"] = st["country"].copy()
    st["tz"] = infra.country_tz(cidx)[groups]
    o_asn, o_ip = infra.home_network(rng, cidx)  # the office's broadband line
    at_home = rng.random(n) < 0.3
    st["asn"] = np.where(at_home, st["asn"], o_asn[groups])
    st["ip"] = np.where(at_home, st["ip"], o_ip[groups])
    st["signup_ip"] = st["ip"].copy()
    names = draw(rng, T.AGENCY_NAMES, k)
    suffix = infra.hex_ids(rng, k, "", 1)
    st["email_domain"] = np.array([f"{a}{b}.com" for a, b in zip(names, suffix, strict=True)], dtype=object)[
        groups
    ]
    st["payment"] = infra.hex_ids(rng, k, "pf_", 8)[groups]
    st["org_id"] = infra.hex_ids(rng, k, "org_", 6)[groups]
    st["tier"] = _choice(rng, ["pro", "startup"], [0.7, 0.3], k)[groups]
    st["verified"] = (rng.random(k) < 0.5)[groups]
    st["created"] = _aged(pop, rng, n, 30, 900)
    st["sys"] = rng.integers(0, len(T.AGENCY_TEMPLATES), k)[groups]  # one template per agency
    st["temp"] = _choice(rng, [0.3, 0.5, 0.7, 1.0], [0.2, 0.3, 0.4, 0.1], k).astype(float)[groups]


def agency_content(pop: Population, rng: np.random.Generator, arr: dict, d: int) -> dict:
    st = pop.st
    acct = arr["acct"]
    r = len(acct)
    prompt = render(
        rng,
        T.AGENCY_TEMPLATES,
        r,
        {
            "audience": T.AGENCY_AUDIENCES,
            "n": ["80", "100", "120", "150", "200", "250"],
            "doc": pop.bank.get("document", rng, r),
        },
        template_index=st["sys"][acct],
    )
    return {"prompt": prompt, "system": _const(None, r), "out": np.full(r, "chat", dtype=object)}


ACCOUNTS: dict[str, Callable[..., None]] = {
    "tutoring_product": tutoring_accounts,
    "ml_researcher": researcher_accounts,
    "labelling_contractor": contractor_accounts,
    "content_agency": agency_accounts,
}
CONTENT: dict[str, Callable[..., dict]] = {
    "tutoring_product": tutoring_content,
    "ml_researcher": researcher_content,
    "labelling_contractor": contractor_content,
    "content_agency": agency_content,
}
