"""Cross-account linking: shared keys, their rarity and consistency, and bounded candidate edges."""

from distillguard.linking.edges import LinkParams, candidate_edges, weigh_keys
from distillguard.linking.keys import LINK_SIGNALS, LinkSignal, all_keys

__all__ = ["LINK_SIGNALS", "LinkParams", "LinkSignal", "all_keys", "candidate_edges", "weigh_keys"]
