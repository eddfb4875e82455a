"""searchtune: turn a product catalog into a better search model for that catalog."""

__version__ = "0.1.0"

from .api import finetune  # noqa: E402
from .config import Config, DataConfig, EvalConfig, IndexConfig, TrainConfig  # noqa: E402
from .errors import DataError, SearchtuneError  # noqa: E402
from .pipeline import Pipeline  # noqa: E402

__all__ = ["Config", "DataConfig", "DataError", "EvalConfig", "IndexConfig", "Pipeline", "SearchtuneError",
           "TrainConfig", "finetune", "__version__"]
