"""RecBole 1.2.1's validation-based early stopping (``recbole.utils.early_stopping``, bigger is better).

A validation score that reaches the best so far (``>=``: a tie counts) becomes the best and resets
the count; any other score adds one to the count, and the run stops when the count exceeds
``stopping_step``. So with ``stopping_step = 10`` the run ends at the 11th validation in a row
without reaching the best: RecBole's Caser on ml-100k stops at epoch 56 with its best at 45.
RecBole compares scores rounded to its ``metric_decimal_place`` (4), and so do we.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# RecBole's default metric_decimal_place: the scores early stopping compares are rounded to it.
DECIMAL_PLACES = 4


@dataclass
class EarlyStopping:
    stopping_step: int  # validations in a row allowed to miss the best before the run stops
    best: float = -math.inf  # best rounded score so far
    misses: int = 0  # validations in a row below the best (RecBole's cur_step)

    def update(self, score: float) -> tuple[bool, bool]:
        """Record one validation score; return ``(improved, stop)``."""
        score = round(score, DECIMAL_PLACES)
        if score >= self.best:
            self.best = score
            self.misses = 0
            return True, False
        self.misses += 1
        return False, self.misses > self.stopping_step
