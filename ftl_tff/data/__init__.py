"""The M100 data layer: readers, windows, labels, schema, datasets.

Importing this package does not import TensorFlow; the TFF-facing parts
(:mod:`ftl_tff.data.client_data`) import it when first used.
"""

from .dataset import BuildOptions, ProcessedDataset, load_dataset
from .labels import LABEL_RULES
from .prepare import FORMATS, prepare, read_source

__all__ = ["FORMATS", "LABEL_RULES", "BuildOptions", "ProcessedDataset", "load_dataset", "prepare", "read_source"]
