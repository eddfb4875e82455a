"""ONNX export: the document encoder (pooling included) and the reranker as ONNX graphs for onnxruntime or any
ONNX stack, each checked against PyTorch on the way out.

sentence-transformers' ONNX backend goes through optimum-onnx, whose only release needs transformers < 4.58 (we
pin 5.23), so the graph is traced here with torch.onnx's TorchScript exporter from the model's own modules: token
ids in, the product's vector out (SPLADE: log(1 + relu) of the MLM logits, max over the real tokens, one value
per vocabulary token; dense: the model's pooling and normalisation). The reranker's graph gives the raw logit;
sentence-transformers' CrossEncoder applies a sigmoid, which keeps the order.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .errors import SearchtuneError
from .files import write_json

FOLDER = "onnx"
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
TOLERANCE = 1e-4  # the largest difference allowed between a value from onnxruntime and from PyTorch (fp32 both)
# What the parity check encodes: short and long, numbers and units, a model code, non-ASCII, one cut at the
# model's length. A run's own products are added when the caller has them.
SAMPLES = ["cordless drill", "DeWalt 20V MAX XR brushless 1/2 in. drill driver kit with two 5.0Ah batteries",
           "256GB", "Samsung 970 EVO Plus NVMe M.2 SSD MZ-V7S1T0BW", "3/4 in. x 10 ft. copper pipe type L",
           "behr premium plus ultra pure white 1 gal. interior paint", "Lampe à poser, 60 W, E27, größe 30 cm",
           "x", "outdoor led flood light motion sensor " * 40]


def _require():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ModuleNotFoundError:
        raise SearchtuneError("--format onnx needs onnx and onnxruntime: pip install 'searchtune[onnx]' "
                              "(or pip install onnx onnxruntime)") from None


def _stack(modules, key: str):
    """A module that runs sentence-transformers ``modules`` end to end: token ids in, ``features[key]`` out."""
    import torch

    class Stack(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stack = torch.nn.ModuleList(modules)

        def forward(self, input_ids, attention_mask, token_type_ids):
            features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            for module in self.stack:
                features = module(features)
            return features[key]

    return Stack()


def _trace(module, tokenizer, path: Path, output: str) -> None:
    import torch

    example = tokenizer(["a product title", "another, longer product title"], padding=True, return_tensors="pt")
    args = tuple(example.get(name, torch.zeros_like(example["input_ids"])) for name in INPUTS)
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS} | {output: {0: "batch"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on Python branches; parity below is the real check
        torch.onnx.export(module.eval(), args, str(path), input_names=list(INPUTS), output_names=[output],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)


def run_graph(path: Path, tokenizer, texts, *, max_length: int | None = None) -> np.ndarray:
    """Run an exported graph on ``texts`` (strings, or (query, product) pairs) with onnxruntime on the CPU."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pairs = texts and isinstance(texts[0], tuple)
    batch = tokenizer(*zip(*texts) if pairs else (list(texts),), padding=True, truncation=True,
                      max_length=max_length, return_tensors="np")
    feed = {name: batch.get(name, np.zeros_like(batch["input_ids"])).astype(np.int64) for name in INPUTS}
    return session.run(None, feed)[0]


def _compare(onnx_values: np.ndarray, torch_values: np.ndarray, *, sparse: bool) -> dict:
    diff = float(np.abs(onnx_values - torch_values).max()) if onnx_values.size else 0.0
    check = {"texts": int(onnx_values.shape[0]), "max_abs_diff": diff, "tolerance": TOLERANCE}
    if sparse:  # a term counts when it is above the tolerance in either; below it, it is rounding at relu's edge
        on, ref = onnx_values > TOLERANCE, torch_values > TOLERANCE
        check["terms"] = int(ref.sum())
        check["terms_differ"] = int((on != ref).sum())
    check["ok"] = diff <= TOLERANCE and not check.get("terms_differ")
    return check


def export_encoder(model_dir: Path, out: Path, *, max_length: int | None = None, texts: list[str] = ()) -> dict:
    """``out/document.onnx`` and the tokenizer beside it, from the model at ``model_dir``; returns the parity check
    against PyTorch. Dense and sparse models alike; an inference-free model's document route."""
    from .inference_free import document_modules
    from .models import load_encoder, model_kind

    _require()
    kind = model_kind(model_dir)
    model = load_encoder(model_dir, kind=kind, device="cpu", pooling_chunk=None).float()
    tokenizer = model.tokenizer
    path = Path(out) / "document.onnx"
    _trace(_stack(document_modules(model), "sentence_embedding"), tokenizer, path, "embedding")
    tokenizer.save_pretrained(str(out))
    samples = [*SAMPLES, *texts]
    length = max_length or model.max_seq_length
    got = run_graph(path, tokenizer, samples, max_length=length)
    old = model.max_seq_length
    model.max_seq_length = length
    reference = model.encode_document(samples, convert_to_tensor=True, batch_size=len(samples))
    model.max_seq_length = old
    reference = (reference.to_dense() if reference.is_sparse else reference).float().cpu().numpy()
    return {"file": path.name, "kind": kind, "max_length": length, "output": f"[batch, {got.shape[1]}]",
            **_compare(got, reference, sparse=kind == "sparse")}


def export_reranker(reranker_dir: Path, out: Path, *, texts: list[str] = ()) -> dict:
    """``out/reranker.onnx`` (one logit per pair) and the reranker's tokenizer in ``out/reranker_tokenizer``."""
    from .rerank.model import load_reranker

    _require()
    model = load_reranker(reranker_dir)
    model.float().to("cpu")
    path = Path(out) / "reranker.onnx"
    _trace(_stack(list(model), "scores"), model.tokenizer, path, "logits")
    model.tokenizer.save_pretrained(str(Path(out) / "reranker_tokenizer"))
    products = [*SAMPLES, *texts]
    pairs = [(products[i % 3], p) for i, p in enumerate(products)]
    got = run_graph(path, model.tokenizer, pairs, max_length=model.max_length)[:, 0]
    reference = np.asarray(model.predict(pairs, activation_fn=_identity(), batch_size=len(pairs)), dtype=np.float32)
    return {"file": path.name, "max_length": model.max_length, "output": "[batch, 1] logits (sigmoid for a score)",
            **_compare(got, reference, sparse=False)}


def _identity():
    import torch

    return torch.nn.Identity()


def export_onnx(model_dir: Path, out: Path, *, reranker_dir: Path | None = None, max_length: int | None = None,
                texts: list[str] = ()) -> dict:
    """``out/onnx/``: the document encoder and, with ``reranker_dir``, the reranker, each checked against PyTorch
    (``parity.json``). Raises when a graph disagrees beyond :data:`TOLERANCE`: such an export is not written."""
    folder = Path(out) / FOLDER
    checks = {"document": export_encoder(model_dir, folder, max_length=max_length, texts=texts)}
    if reranker_dir is not None:
        checks["reranker"] = export_reranker(reranker_dir, folder, texts=texts)
    write_json(folder / "parity.json", checks)
    bad = [f"{name}: max difference {c['max_abs_diff']:.2g}, {c.get('terms_differ', 0)} terms differ"
           for name, c in checks.items() if not c["ok"]]
    if bad:
        raise SearchtuneError(f"the ONNX graphs in {folder} disagree with PyTorch beyond {TOLERANCE:g} "
                              f"({'; '.join(bad)}); see parity.json. Do not use them")
    return checks
