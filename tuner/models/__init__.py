"""Sequential recommenders with RecBole 1.2.1's architecture, defaults and losses (torch only)."""

from tuner.models.base import Batch, SequentialRecommender
from tuner.models.caser import Caser, CaserConfig
from tuner.models.gru4recf import GRU4RecF, GRU4RecFConfig
from tuner.models.horizontal import horizontal_max_pool, plan_height_groups
from tuner.models.item_features import POOLING_MODES, ItemFeatureEmbedding
from tuner.models.losses import LOSS_TYPES, bpr_loss, sample_negatives
from tuner.models.recbole_compat import load_recbole_state_dict
from tuner.models.registry import MODEL_NAMES, build_model, model_defaults, model_name

__all__ = [
    "Batch",
    "SequentialRecommender",
    "Caser",
    "CaserConfig",
    "GRU4RecF",
    "GRU4RecFConfig",
    "ItemFeatureEmbedding",
    "horizontal_max_pool",
    "plan_height_groups",
    "POOLING_MODES",
    "LOSS_TYPES",
    "bpr_loss",
    "sample_negatives",
    "load_recbole_state_dict",
    "MODEL_NAMES",
    "build_model",
    "model_defaults",
    "model_name",
]
