"""Continuous monitoring: daily runs over new logs only, stable campaign ids, changes and decisions.

``state`` keeps what earlier runs read and decided (crash-safe generations under a lock);
``incremental`` is one run; ``registry`` keeps campaign ids stable; ``review`` holds analysts'
decisions; ``changes`` says what changed and posts it to a webhook.
"""
