"""Campaigns: Leiden (CPM) clustering of the account graph, cluster features and indicators."""

from distillguard.campaigns.cluster import ClusterParams, campaign_id, leiden_clusters
from distillguard.campaigns.features import CLUSTER_FEATURES, cluster_features

__all__ = ["CLUSTER_FEATURES", "ClusterParams", "campaign_id", "cluster_features", "leiden_clusters"]
