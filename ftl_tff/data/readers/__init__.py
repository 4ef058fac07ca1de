"""Readers of the M100 releases: the raw hive layout, the per-node aggregated release and wide per-node tables, into per-window statistics (:class:`~ftl_tff.data.readers.source.SourceWindows`)."""
