"""Expected volumes of a scenario, computed from its parameters without generating a row.

``expected_counts(scenario)`` mirrors the generator's arithmetic (see :mod:`.populations`): for each
population and day, the expected number of accounts alive (start/end days, failover bans and standby
pools, sign-ups during the window, a lab's sweep), the probability an alive account is active that
day (its per-account activity ``clip(active + N(0, 0.12), 0.02, 1)`` times the weekday multiplier,
integrated by Gauss-Hermite quadrature) and the mean requests of an active account-day (``rate``;
power users' scripted sessions and one-run-a-day jobs included). Harvest requests are the campaign
requests that are not cover traffic.

It ignores the few requests that local time zones push across the first and last UTC midnight of
the window (well under 1% over weeks), so it is a check of a scenario's size (``simulate --dry-run``)
and of the generator (tests compare it with generated counts), not a prediction to the row.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from distillguard.simulate.populations import BEHAVIOUR, WEEKDAYS
from distillguard.simulate.scenario import PopulationSpec, Scenario

_Z, _W = np.polynomial.hermite_e.hermegauss(64)
_W = _W / _W.sum()
_ACTIVE_SD = 0.12  # per-account spread of the activity probability (populations._accounts)
_NEW_SHARE = 0.05  # benign accounts created during the window (populations._signup_spread)
#: benign archetypes whose accounts all exist before the window opens
AGED = ("reward_model_vendor", "tutoring_product", "ml_researcher", "labelling_contractor", "content_agency")


def _p_active(active: float, weekday_mult: np.ndarray) -> np.ndarray:
    """E[min(1, p * w)] over accounts, p = clip(active + N(0, sd), 0.02, 1), for each multiplier w."""
    if active >= 1:
        return np.minimum(1.0, weekday_mult)
    p = np.clip(active + _ACTIVE_SD * _Z, 0.02, 1.0)
    return (np.minimum(1.0, p[None, :] * weekday_mult[:, None]) * _W[None, :]).sum(axis=1)


def _per_active_day(p: PopulationSpec) -> float:
    rate = p["rate"]
    if p.is_campaign and p["rate_max"] > 0:  # each account its own mean, uniform in the range
        return (p["rate_min"] + p["rate_max"]) / 2
    if p.archetype == "power_user":  # a share of sessions are scripts of 10-39 requests
        q = p["script_share"] * 0.3
        ps = BEHAVIOUR["power_user"].per_session
        return rate / ps * ((1 - q) * ps + q * 24.5)
    return rate


def _alive(p: PopulationSpec, days: int) -> np.ndarray:
    """Expected accounts alive on each day (before activity)."""
    d = np.arange(days, dtype=float)
    end = days - 1 if p["end_day"] == -1 else min(p["end_day"], days - 1)
    in_window = (d >= p["start_day"]) & (d <= end)
    n = float(p["accounts"])
    if p.is_campaign:
        fd = p["failover_day"]
        if fd == -1:
            return n * in_window
        banned = p["failover_share"]
        primary = np.where(d < fd, n, n * (1 - banned)) * in_window
        standby = p["standby_accounts"] * ((d >= fd) & (d <= end))
        return primary + standby
    if p.archetype == "research_lab":  # sweep_days per lab inside the window
        span = max(0, end - p["start_day"] + 1)
        return np.where(in_window, n * min(p["sweep_days"], span) / max(span, 1), 0.0)
    if p.archetype in AGED:  # aged accounts
        return n * in_window
    if p.archetype == "startup_cohort":  # the batch signs up around start_day - 6 .. start_day + 3
        lo = p["start_day"] - 6
        return n * in_window * np.clip((d + 1 - lo) / 9, 0, 1)
    if p.archetype == "university_class":  # created in the week after week_start ~ U(-20, 0) days
        w = np.linspace(0, 20, 201)[:, None]
        u = np.linspace(0, 7, 71)[None, :]
        created = -w + u
        frac = np.array([(created < x + 1).mean() for x in d])  # days (tens), not rows
        return n * in_window * frac
    new = np.minimum(1.0, (d + 1) / max(days - 1, 1))
    return n * in_window * ((1 - _NEW_SHARE) + _NEW_SHARE * new)


def expected_counts(sc: Scenario) -> pl.DataFrame:
    """Per population: accounts (standby pools included), expected interactions and harvest requests."""
    rows = []
    days = sc.days
    wd_index = (sc.start.weekday() + np.arange(days)) % 7
    for p in sc.populations:
        beh = BEHAVIOUR[p.archetype]
        mult = np.asarray(WEEKDAYS[beh.weekday])[wd_index]
        per_day = _alive(p, days) * _p_active(p["active"], mult) * _per_active_day(p)
        inter = float(per_day.sum())
        accounts = p["accounts"]
        if p.is_campaign and p["failover_day"] != -1:
            accounts += p["standby_accounts"]
        harvest = inter * (1 - p["cover_share"]) if p.is_campaign else 0.0
        rows.append(
            {
                "population": p.name,
                "archetype": p.archetype,
                "campaign_id": p.campaign_id,
                "accounts": accounts,
                "interactions": inter,
                "harvest": harvest,
            }
        )
    return pl.DataFrame(rows)
