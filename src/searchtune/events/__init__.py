"""Search logs as training data: import (store), position bias (click_model), labels, the split by time
(dataset), simulated logs (simulate) and comparing two models on logged traffic (compare)."""

from .dataset import events_dataset
from .simulate import SimulationConfig, clicks_export, simulate, write_log
from .store import EVENTS, EventStore, load_events, read_events

__all__ = ["EVENTS", "EventStore", "SimulationConfig", "clicks_export", "events_dataset", "load_events", "read_events", "simulate",
           "write_log"]
