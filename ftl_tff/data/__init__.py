"""The M100 data layer: readers, windows, labels, schema, datasets.

Importing this package does not import TensorFlow; the TFF-facing parts
(:mod:`ftl_tff.data.clients.client_data`) import it when first used.

The stages have their folders: :mod:`ftl_tff.data.readers` (the M100 releases
into per-window statistics), :mod:`ftl_tff.data.building` (labels, schema,
feature sets and the processed dataset), :mod:`ftl_tff.data.clients` (per-node
splits, scaling, imputation, gaps and TFF client data); the synthetic
generator, :mod:`ftl_tff.data.synthetic`, stands on its own.
"""

from .building.dataset import BuildOptions, ProcessedDataset, load_dataset
from .building.labels import LABEL_RULES
from .building.prepare import FORMATS, prepare, read_source

__all__ = ["FORMATS", "LABEL_RULES", "BuildOptions", "ProcessedDataset", "load_dataset", "prepare", "read_source"]
