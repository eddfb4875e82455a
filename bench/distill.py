"""Home Depot: distil a cross-encoder teacher into splade-tiny (a stronger signal than contrastive labels alone).

Usage (stages run in order; each skips what is already on disk, so an interrupted run resumes):
  .venv/bin/python bench/distill.py --out runs/hd-distill --negatives RUN/rounds/round-1/negatives.jsonl \
      --student-init SOUP_OR_MODEL [--stages ce,ce-dev,label,student,dev,test] [--mse-weight 0.05]

1. ``ce``: a cross-encoder (all-MiniLM-L6-v2 with a fresh one-logit head; no pretrained cross-encoder
   exists here) trained with binary cross-entropy on the training queries only: every judged
   (query, product) with target gain/2 (0, 0.5, 1), plus the mined negatives of ``--negatives`` (target 0).
2. ``ce-dev``: the teacher reranks the student-init's top ``--rerank-k`` on dev (a check that the teacher
   ranks better than the student; dev only).
3. ``label``: the teacher scores every training row (query, positive, mined negative); the label is the
   margin teacher(q, pos) - teacher(q, neg), as MarginMSE wants (Hofstätter et al. 2020).
4. ``student``: splade-tiny continues from ``--student-init`` with SpladeLoss around
   ``--mnrl-weight`` x MNRL (in-batch + the hard negative) + ``--mse-weight`` x SparseMarginMSE on the teacher's margins.
5. ``dev`` / ``test``: the student scored on dev; test only with ``--stages ...,test`` (read once, for the
   model dev chose).
Never touches a dev or test query for training, labelling or mining (training_rows refuses them).
One OUT holds one teacher and one student: another student setting (``--lr``, ``--mix``) needs another OUT
(copy ``labelled*.jsonl`` there to reuse the labels).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import hd
from searchtune.config import TrainConfig
from searchtune.mining import pools, read_mined
from searchtune.models import resolve_model
from searchtune.training import training_rows

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--out", required=True)
p.add_argument("--data-dir", default=hd.DATA_DIR)
p.add_argument("--negatives", required=True, help="negatives.jsonl of a mining round on the training queries")
p.add_argument("--student-init", required=True)
p.add_argument("--stages", default="ce,ce-dev,label,student,dev")
p.add_argument("--teacher", default="minilm")
p.add_argument("--ce-epochs", type=float, default=1.0)
p.add_argument("--ce-lr", type=float, default=5e-5)
p.add_argument("--ce-batch", type=int, default=32)
p.add_argument("--rerank-k", type=int, default=30)
p.add_argument("--mse-weight", type=float, default=0.05)
p.add_argument("--mnrl-weight", type=float, default=1.0,
               help="0: the teacher's margins alone (pure MarginMSE; no contrastive term)")
p.add_argument("--mix", type=float, default=0.0,
               help="teacher = student-init score + MIX x cross-encoder score (0: the cross-encoder alone)")
p.add_argument("--lr", type=float, default=5e-5)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--epochs", type=float, default=1.0)
p.add_argument("--seed", type=int, default=11)
a = p.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
stages = a.stages.split(",")
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
res_file = out / "distill.json"
res = json.loads(res_file.read_text()) if res_file.exists() else {}
res.setdefault("commands", []).append(" ".join(["python", *sys.argv]))


def save():
    res_file.write_text(json.dumps(res, indent=1, default=str))


d, s = hd.load(a.data_dir)
held_out = set(s.dev) | set(s.test)
texts = d.texts
mined = read_mined(a.negatives)
if any(r["query_id"] in held_out for r in mined):
    raise SystemExit(f"{a.negatives}: holds dev/test queries; refusing")
ce_dir = out / "ce" / "model"


def ce_rows():
    q, t, y = [], [], []
    for qid in sorted(s.train):
        for pid, gain in d.qrels.get(qid, {}).items():
            q.append(d.queries[qid]), t.append(texts[pid]), y.append(gain / 2)
    for r in mined:
        for n in r["negatives"]:
            if n["source"] == "model":
                q.append(r["query"]), t.append(texts[n["product_id"]]), y.append(0.0)
    return {"query": q, "text": t, "label": y}


if "ce" in stages and not ce_dir.exists():
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (CrossEncoder, CrossEncoderTrainer,
                                                     CrossEncoderTrainingArguments)
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    rows = ce_rows()
    res["ce"] = {"rows": len(rows["query"]), "positives": sum(y > 0 for y in rows["label"])}
    logging.info("cross-encoder rows: %s", res["ce"])
    ce = CrossEncoder(resolve_model(a.teacher), num_labels=1, max_length=64)
    args = CrossEncoderTrainingArguments(
        output_dir=str(out / "ce" / "checkpoints"), num_train_epochs=a.ce_epochs,
        per_device_train_batch_size=a.ce_batch, learning_rate=a.ce_lr, warmup_steps=0.1, bf16=True,
        use_cpu=True, save_strategy="steps", save_steps=500, save_total_limit=1, logging_steps=50,
        seed=a.seed, report_to="none", dataloader_drop_last=True)
    t = time.time()
    trainer = CrossEncoderTrainer(model=ce, args=args, train_dataset=Dataset.from_dict(rows).shuffle(seed=a.seed),
                                  loss=BinaryCrossEntropyLoss(ce))
    ckpts = sorted((out / "ce" / "checkpoints").glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=bool(ckpts) or None)
    ce.save_pretrained(str(ce_dir))
    res["ce"]["seconds"] = round(time.time() - t, 1)
    res["ce"]["rows_per_second"] = round(res["ce"]["rows"] * a.ce_epochs / (time.time() - t), 1)
    save()


def student_run(model_path: str, part: str):
    qrels, system = hd.score_model(d, s, model_path, part, out / "qdrant")
    return qrels, system.run


if "ce-dev" in stages and "ce_dev" not in res:
    from sentence_transformers.cross_encoder import CrossEncoder

    from searchtune.metrics import evaluate_run

    qrels, run = student_run(a.student_init, "dev")
    ce = CrossEncoder(str(ce_dir), max_length=64)
    pairs, keys = [], []
    for qid, docs in run.items():
        for pid in sorted(docs, key=docs.get, reverse=True)[:a.rerank_k]:
            pairs.append((d.queries[qid], texts[pid])), keys.append((qid, pid))
    t = time.time()
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = ce.predict(pairs, batch_size=256, show_progress_bar=False)
    reranked: dict = {}
    for (qid, pid), sc in zip(keys, scores):
        reranked.setdefault(qid, {})[pid] = float(sc)
    top = {q: dict(sorted(docs.items(), key=lambda kv: -kv[1])[:a.rerank_k]) for q, docs in run.items()}
    res["ce_dev"] = {"student_init": evaluate_run(qrels, top), "reranked": evaluate_run(qrels, reranked),
                     "k": a.rerank_k, "pairs_per_second": round(len(pairs) / (time.time() - t), 1), "mixed": {}}
    # The teacher for distillation may be the student-init's own score plus W x the cross-encoder's: the
    # weight is chosen here, on dev (reranking the same top k), never on test.
    for w in (0.25, 0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0):
        mixed = {q: {pid: top[q][pid] + w * reranked[q][pid] for pid in top[q]} for q in top}
        res["ce_dev"]["mixed"][str(w)] = evaluate_run(qrels, mixed)
        logging.info("dev nDCG@10 student + %.2f x teacher: %.4f", w, res["ce_dev"]["mixed"][str(w)]["ndcg@10"])
    logging.info("dev nDCG@10: student %.4f, teacher rerank of its top %d %.4f", res["ce_dev"]["student_init"]["ndcg@10"],
                 a.rerank_k, res["ce_dev"]["reranked"]["ndcg@10"])
    save()

label_file = out / (f"labelled-mix{a.mix}.jsonl" if a.mix else "labelled.jsonl")
if "label" in stages and not label_file.exists():
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    parts = training_rows(d, s.train, min_gain=2, held_out=held_out, negatives=pools(mined))
    rows = parts["triplets"]
    ce = CrossEncoder(str(ce_dir), max_length=64)
    t = time.time()
    uniq = sorted({(q, x) for q, x in zip(rows["query"], rows["positive"])} |
                  {(q, x) for q, x in zip(rows["query"], rows["negative"])})
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sc = ce.predict(uniq, batch_size=256, show_progress_bar=True)
    score = {pair: float(v) for pair, v in zip(uniq, sc)}
    own = {}
    if a.mix:  # the student-init's own scores, for a mixed teacher (init + mix x cross-encoder)
        from searchtune.models import load_sparse_encoder

        m = load_sparse_encoder(a.student_init)
        qs = sorted({q for q, _ in uniq})
        xs = sorted({x for _, x in uniq})
        dense = dict(convert_to_tensor=True, convert_to_sparse_tensor=False, batch_size=256)
        qv, xv = m.encode_query(qs, **dense).float(), m.encode_document(xs, **dense).float()
        qi, xi = {q: i for i, q in enumerate(qs)}, {x: i for i, x in enumerate(xs)}
        for i in range(0, len(uniq), 4096):
            chunk = uniq[i:i + 4096]
            dots = (qv[[qi[q] for q, _ in chunk]] * xv[[xi[x] for _, x in chunk]]).sum(1)
            own.update(zip(chunk, dots.tolist()))
    tmp = label_file.with_suffix(".tmp")
    with tmp.open("w") as f:
        for q, pos, neg in zip(rows["query"], rows["positive"], rows["negative"]):
            margin = (a.mix or 1.0) * (score[(q, pos)] - score[(q, neg)])
            if own:
                margin += own[(q, pos)] - own[(q, neg)]
            f.write(json.dumps({"query": q, "positive": pos, "negative": neg, "label": margin,
                                "ce": [score[(q, pos)], score[(q, neg)]]}) + "\n")
    tmp.rename(label_file)
    res["label"] = {"rows": len(rows["query"]), "pairs_scored": len(uniq), "seconds": round(time.time() - t, 1),
                    "pairs_not_triplets": len(parts.get("pairs", {}).get("query", []))}
    save()

student_dir = out / "student" / "model"
if "student" in stages and not student_dir.exists():
    import torch
    from datasets import Dataset
    from sentence_transformers.sparse_encoder import SparseEncoderTrainer, SparseEncoderTrainingArguments
    from sentence_transformers.sparse_encoder.losses import (SparseMarginMSELoss,
                                                             SparseMultipleNegativesRankingLoss, SpladeLoss)
    from sentence_transformers.training_args import BatchSamplers

    from searchtune.models import load_sparse_encoder

    class MnrlPlusMarginMSE(torch.nn.Module):
        """Contrastive (in-batch + hard negative) plus the teacher's margins: both read the same embeddings."""

        def __init__(self, model, weight: float, mnrl_weight: float = 1.0):
            super().__init__()
            self.model, self.weight, self.mnrl_weight = model, weight, mnrl_weight
            self.mnrl = SparseMultipleNegativesRankingLoss(model)
            self.mse = SparseMarginMSELoss(model)

        def compute_loss_from_embeddings(self, embeddings, labels):
            out = {"margin_mse": self.weight * self.mse.compute_loss_from_embeddings(embeddings, labels)}
            if self.mnrl_weight:
                out["mnrl"] = self.mnrl_weight * self.mnrl.compute_loss_from_embeddings(embeddings, labels)
            return out

    rows = [json.loads(x) for x in label_file.read_text().splitlines()]
    ds = Dataset.from_dict({k: [r[k] for r in rows] for k in ("query", "positive", "negative", "label")})
    model = load_sparse_encoder(a.student_init, pooling_chunk=None)
    model.max_seq_length = 48  # the bench's title length (bench/sweep.py BENCH_DEFAULTS)
    cfg = TrainConfig()  # the library's FLOPS weights, so the student is regularised as every other run
    loss = SpladeLoss(model, loss=MnrlPlusMarginMSE(model, a.mse_weight, a.mnrl_weight),
                      query_regularizer_weight=cfg.query_regularizer_weight,
                      document_regularizer_weight=cfg.document_regularizer_weight)
    args = SparseEncoderTrainingArguments(
        output_dir=str(out / "student" / "checkpoints"), num_train_epochs=a.epochs, per_device_train_batch_size=a.batch,
        learning_rate=a.lr, warmup_steps=0.1, bf16=True, use_cpu=True, batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="steps", save_steps=100, save_total_limit=1, logging_steps=50, seed=a.seed, report_to="none")
    t = time.time()
    trainer = SparseEncoderTrainer(model=model, args=args, train_dataset=ds, loss=loss)
    ckpts = sorted((out / "student" / "checkpoints").glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=bool(ckpts) or None)
    model.save_pretrained(str(student_dir))
    res["student"] = {"rows": len(rows), "seconds": round(time.time() - t, 1), "init": a.student_init,
                      "mse_weight": a.mse_weight, "mnrl_weight": a.mnrl_weight, "lr": a.lr, "batch": a.batch, "epochs": a.epochs,
                      "rows_per_second": round(len(rows) * a.epochs / (time.time() - t), 1)}
    save()

for part in ("dev", "test"):
    if part in stages and part not in res:
        from searchtune.metrics import evaluate_run

        t = time.time()
        qrels, run = student_run(str(student_dir), part)
        res[part] = evaluate_run(qrels, run)
        res[part]["seconds"] = round(time.time() - t, 1)
        logging.info("%s student nDCG@10 %.4f", part, res[part]["ndcg@10"])
        save()
