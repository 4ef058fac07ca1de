"""Declarative experiments: a grid of federated + transfer runs, resumable, with a report."""
