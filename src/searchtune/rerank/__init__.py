"""The second stage: a cross-encoder reranker trained on the catalog (:mod:`.train`), the rescoring of a first
stage's top K (:mod:`.model`), and the rules that choose K, the mixing weight and the system to deploy on dev
(:mod:`.stages`)."""
