"""The exported ONNX document encoder against searchtune's PyTorch encoder: documents/s on Home Depot titles.

    python bench/onnx_speed.py [--docs 3000] [--model splade-tiny] [--max-length 48]

Exports ``--model`` with ``searchtune.onnx_export.export_encoder`` (which checks parity), then encodes the same
titles with onnxruntime (CPU, batch 32, texts sorted by length as the PyTorch path does) and with
``searchtune.encode.encode_sparse`` in fp32 and in the machine's precision, each after one warm-up pass.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--model", default="splade-tiny")
    ap.add_argument("--max-length", type=int, default=48)
    args = ap.parse_args()
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from searchtune.encode import encode_sparse
    from searchtune.evaluation.report import machine
    from searchtune.models import load_encoder
    from searchtune.onnx_export import INPUTS, export_encoder
    from searchtune.precision import resolve

    hd = Path(os.environ.get("HD_DIR", "../shared/data/homedepot"))
    titles = pd.read_csv(hd / "train.csv", encoding="latin-1")["product_title"].drop_duplicates()
    texts = titles.head(args.docs).astype(str).tolist()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        parity = export_encoder(args.model, Path(tmp), max_length=args.max_length)
        print(f"parity: largest difference {parity['max_abs_diff']:.1e}, {parity.get('terms_differ', 0)} terms differ")
        tokenizer = AutoTokenizer.from_pretrained(tmp)
        session = ort.InferenceSession(str(Path(tmp) / "document.onnx"), providers=["CPUExecutionProvider"])
        order = sorted(texts, key=len, reverse=True)

        def onnx_pass():
            for start in range(0, len(order), 32):
                batch = tokenizer(order[start:start + 32], padding=True, truncation=True,
                                  max_length=args.max_length, return_tensors="np")
                session.run(None, {k: batch[k].astype(np.int64) for k in INPUTS})

        onnx_pass()
        start = time.perf_counter()
        onnx_pass()
        print(f"onnxruntime fp32: {len(texts) / (time.perf_counter() - start):.0f} docs/s")
    model = load_encoder(args.model, kind="sparse")
    model.max_seq_length = args.max_length
    for precision in ("fp32", resolve("auto")):
        encode_sparse(model, texts[:256], precision=precision)
        start = time.perf_counter()
        encode_sparse(model, texts, precision=precision)
        print(f"PyTorch fast path {precision}: {len(texts) / (time.perf_counter() - start):.0f} docs/s")


if __name__ == "__main__":
    main()
