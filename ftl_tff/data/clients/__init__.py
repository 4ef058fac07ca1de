"""Federated preparation: per-node splits, scaling, imputation and telemetry-gap measures, and the TFF client datasets."""
