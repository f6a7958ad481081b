"""Datasets: RecBole atomic files (or a generated dataset) -> RecBole's sequential leave-one-out split.

``load_dataset(name_or_path, options)`` is the entry point; docs/data.md describes names, options
and how each step matches RecBole 1.2.1.
"""

from tuner.data.cache import clear_memory
from tuner.data.dataset import SequentialDataset, Split
from tuner.data.loader import load_dataset
from tuner.data.options import dataset_option_names, with_item_fields
from tuner.data.sources import BUILTIN_NAMES

__all__ = [
    "BUILTIN_NAMES",
    "SequentialDataset",
    "Split",
    "clear_memory",
    "dataset_option_names",
    "load_dataset",
    "with_item_fields",
]
