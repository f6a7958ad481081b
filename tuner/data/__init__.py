"""Datasets: RecBole atomic files -> filtered, remapped, leave-one-out split tensors (parsed once, cached)."""

from tuner.data.dataset import SequentialDataset, Split
from tuner.data.files import with_item_fields
from tuner.data.loader import BUILTIN_NAMES, dataset_option_names, load_dataset

__all__ = ["BUILTIN_NAMES", "SequentialDataset", "Split", "dataset_option_names", "load_dataset", "with_item_fields"]
