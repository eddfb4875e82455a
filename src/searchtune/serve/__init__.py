"""``searchtune serve``: the system a run chose, behind an HTTP API (:mod:`.app`), its concurrent queries
micro-batched (:mod:`.batcher`), what it served logged for learning (:mod:`.served`)."""
