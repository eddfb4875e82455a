"""The second stage: a cross-encoder reranker trained on the catalog (:mod:`.train`) and the rescoring of a first
stage's top K (:mod:`.model`). The rules that choose K, the mixing weight and the system to deploy on dev are in
:mod:`searchtune.evaluation.stages` and :mod:`searchtune.evaluation.deploy`."""
