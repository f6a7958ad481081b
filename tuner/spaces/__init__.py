"""Search spaces: RecBole's hyper.test (and params_dict YAML) files, read safely, as Optuna distributions.

See docs/search-spaces.md for the format, what each type means and how choices map to Optuna.
"""

from tuner.spaces._build import TYPES
from tuner.spaces._param import Param
from tuner.spaces._parse import FORMATS, parse_file, parse_text
from tuner.spaces._space import Grid, SearchSpace

__all__ = ["FORMATS", "TYPES", "Grid", "Param", "SearchSpace", "parse_file", "parse_text"]
