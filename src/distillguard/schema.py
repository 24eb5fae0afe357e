"""The contracts between stages.

Every table that crosses a stage boundary has its Arrow schema here, and every module imports it
from here rather than restating it. The interaction and account columns are exactly those of
``shared/spec/log-format.md`` (the contract with the providers' logs); the result tables are the
ones ``scan`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

#: Arrow type of every timestamp we produce: microseconds, UTC.
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    """One column of a log-format table."""

    name: str
    type: pa.DataType
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class TableSpec:
    """A log-format table: its columns in canonical order."""

    name: str
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=True) for c in self.columns])

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


INTERACTIONS = TableSpec(
    "interactions",
    (
        Column("request_id", pa.string(), True, "unique per row"),
        Column("ts", TIMESTAMP, True, "when the request arrived (UTC)"),
        Column("account_id", pa.string(), True, "billing account that owns the API key"),
        Column("prompt", pa.string(), True, "text of the final user turn"),
        Column("org_id", pa.string(), False, "organization the account belongs to"),
        Column("api_key_id", pa.string(), False, "the key used"),
        Column("conversation_id", pa.string(), False, "groups the turns of one conversation"),
        Column("turn", pa.int64(), False, "0 for the first user turn of a conversation"),
        Column("system", pa.string(), False, "system prompt text"),
        Column("model", pa.string(), False, "model name requested"),
        Column("ip", pa.string(), False, "client IP, v4 or v6"),
        Column("asn", pa.int64(), False, "autonomous system number of ip"),
        Column("country", pa.string(), False, "ISO 3166-1 alpha-2 of ip"),
        Column("user_agent", pa.string(), False, "SDK / client string"),
        Column("input_tokens", pa.int64(), False, ""),
        Column("output_tokens", pa.int64(), False, ""),
        Column("max_tokens", pa.int64(), False, "as requested"),
        Column("temperature", pa.float64(), False, "as requested"),
        Column("tools", pa.int64(), False, "number of tool definitions offered"),
        Column("status", pa.string(), False, "ok, error or rate_limited"),
        Column("response", pa.string(), False, "the model's answer text"),
    ),
)

ACCOUNTS = TableSpec(
    "accounts",
    (
        Column("account_id", pa.string(), True, ""),
        Column("created_at", TIMESTAMP, False, "sign-up time"),
        Column("tier", pa.string(), False, "free, pro, edu, startup, research, enterprise"),
        Column("verified", pa.bool_(), False, "passed identity / business verification"),
        Column("email_domain", pa.string(), False, "domain of the sign-up e-mail"),
        Column("payment_fingerprint", pa.string(), False, "stable hash of the payment instrument"),
        Column("signup_ip", pa.string(), False, ""),
        Column("signup_country", pa.string(), False, "ISO 3166-1 alpha-2"),
    ),
)

#: Allowed values of the enumerated columns (a value outside the set is a contract violation).
ENUMS: dict[tuple[str, str], frozenset[str]] = {
    ("interactions", "status"): frozenset({"ok", "error", "rate_limited"}),
    ("accounts", "tier"): frozenset({"free", "pro", "edu", "startup", "research", "enterprise"}),
}

TABLES = {t.name: t for t in (INTERACTIONS, ACCOUNTS)}

# --- ground truth written by the simulator -------------------------------------------------------

BENIGN = "benign"

#: labels/accounts: one row per simulated account.
ACCOUNT_LABELS = pa.schema(
    [
        pa.field("account_id", pa.string()),
        pa.field("archetype", pa.string()),  # e.g. "casual", "app_backend", "hydra"
        pa.field("population", pa.string()),  # the scenario population that made it
        pa.field("campaign_id", pa.string()),  # "benign" for legitimate accounts
        pa.field("playbook", pa.string()),  # null for benign accounts
        pa.field("pool", pa.string()),  # "primary" / "standby" for campaign accounts, else null
    ]
)

#: labels/interactions: one row per simulated interaction.
INTERACTION_LABELS = pa.schema(
    [
        pa.field("request_id", pa.string()),
        pa.field("account_id", pa.string()),
        pa.field("campaign_id", pa.string()),  # "benign" for legitimate traffic
        pa.field("harvest", pa.bool_()),  # True: harvest traffic; False: benign or cover traffic
    ]
)

# --- results written by scan ------------------------------------------------------------------------

#: DIR/accounts.{csv,parquet}
ACCOUNT_RESULTS = pa.schema(
    [
        pa.field("account_id", pa.string()),
        pa.field("score", pa.float64()),  # [0, 1], higher = more suspicious
        pa.field("flagged", pa.bool_()),
        pa.field("campaign_id", pa.string()),  # null when not attributed
        pa.field("reasons", pa.string()),  # "; "-joined, strongest first
        pa.field("interactions", pa.int64()),
        pa.field("first_seen", TIMESTAMP),
        pa.field("last_seen", TIMESTAMP),
    ]
)

#: DIR/rejected.{csv,parquet}: rows set aside by the readers.
REJECTED = pa.schema(
    [
        pa.field("table", pa.string()),  # "interactions" or "accounts"
        pa.field("file", pa.string()),
        pa.field("row", pa.int64()),  # 1-based record number within the file (header excluded)
        pa.field("reason", pa.string()),
        pa.field("raw", pa.string()),  # the row as read, JSON-encoded, so nothing is lost
    ]
)


@dataclass(frozen=True)
class Indicator:
    """A piece of shared evidence that ties a campaign's accounts together."""

    kind: str  # "template", "payment_fingerprint", "ip_prefix", "asn", "signup_burst", ...
    value: str
    accounts: int  # how many of the campaign's accounts share it
    interactions: int = 0
    examples: tuple[str, ...] = ()  # example request ids (templates) or account ids
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Campaign:
    """One detected campaign, as written to DIR/campaigns.json."""

    campaign_id: str
    accounts: int
    interactions: int
    first_seen: str  # RFC 3339, UTC
    last_seen: str
    capabilities: dict[str, float]  # capability -> share of the campaign's harvest traffic
    confidence: float  # [0, 1]
    indicators: tuple[Indicator, ...]
    summary: str = ""
    account_ids: tuple[str, ...] = ()
    tokens: int = 0  # output tokens harvested, when known
    models: dict[str, int] = field(default_factory=dict)
