"""Building a processed dataset from what a reader returns: labels, schema alignment, feature sets, the dataset folder and :func:`~ftl_tff.data.building.prepare.prepare`."""
