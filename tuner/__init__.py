"""seqrec-tuner: hyperparameter tuning for sequential recommenders (Caser, GRU4RecF)."""

__version__ = "0.1.0"
