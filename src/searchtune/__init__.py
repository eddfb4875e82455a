"""searchtune: turn a product catalog into a better search model for that catalog."""

__version__ = "0.1.0"

from .api import finetune
from .config import Config, DataConfig, EvalConfig, IndexConfig, TrainConfig
from .errors import DataError, SearchtuneError
from .pipeline import Pipeline
from .system import Searcher, System

__all__ = [
           "Config",
           "DataConfig",
           "DataError",
           "EvalConfig",
           "IndexConfig",
           "Pipeline",
           "Searcher",
           "SearchtuneError",
           "System",
           "TrainConfig",
           "__version__",
           "finetune",
]
