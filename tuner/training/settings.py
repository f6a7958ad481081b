# TEMP DEV SHIM - not committed
from tuner.config import TRAIN_DEFAULTS, DATA_DEFAULTS, merge
from tuner.errors import ConfigError
_M = {"Caser": {"embedding_size": 64, "nh": 16, "nv": 4, "dropout_prob": 0.4, "reg_weight": 1e-4, "loss_type": "CE"},
      "GRU4RecF": {"embedding_size": 64, "hidden_size": 128, "num_layers": 1, "dropout_prob": 0.3, "loss_type": "CE"}}
def known_params(model):
    if model not in _M: raise ConfigError(f"unknown model {model!r}")
    return {**TRAIN_DEFAULTS, **DATA_DEFAULTS, **_M[model]}
def resolve(model, config_file=None, overrides=None, *, overrides_source="--set"):
    return merge(known_params(model), [("--set", overrides or {})])
