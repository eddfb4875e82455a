"""The trainer set-up every model shares: SPLADE, dense and the reranker (:mod:`searchtune.rerank.train`).

sentence-transformers' trainers do the training; what is ours: the arguments every run sets the same way,
a progress bar instead of printed log dicts, the log file the studio reads, the last *complete* checkpoint
to resume from, and what is saved beside the model (its config and ``training_stats.json``).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import yaml

from .distributed import is_main
from .errors import SearchtuneError
from .files import write_json, write_text
from .precision import resolve
from .rundir import STATS

logger = logging.getLogger(__name__)


def common_args(model, *, output_dir: Path, epochs: float, batch_size: int, learning_rate: float, warmup: float,
                save_steps: int, logging_steps: int, seed: int, precision: str) -> tuple[dict, str]:
    """The training arguments every searchtune run shares, and the precision used (bf16 autocast where the
    hardware has it; the saved weights stay float32)."""
    used = resolve(precision, "cuda" if model.device.type == "cuda" else "cpu")
    return dict(
        output_dir=str(output_dir), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=warmup,  # a float below 1 is a ratio in transformers v5
        save_strategy="steps", save_steps=save_steps, save_total_limit=2, logging_steps=logging_steps, seed=seed,
        data_seed=seed, report_to="none",
        disable_tqdm=True,  # progress_callback draws the bar; the log dicts go to the log file
        dataloader_num_workers=0, dataloader_pin_memory=False, bf16=used == "bf16",
        use_cpu=model.device.type == "cpu",  # transformers refuses bf16 without a GPU unless told
        ddp_find_unused_parameters=False,  # every parameter takes part in every step (one extra pass otherwise)
    ), used


def fit(trainer_cls, *, model, args, train_dataset, loss, model_dir: Path, ckpt_dir: Path, log_path: Path,
        record: dict, progress: bool = True, resume: bool = False, callbacks=(), around=None) -> tuple[dict, object]:
    """Train with ``trainer_cls`` (resuming from the last complete checkpoint), save the model to ``model_dir``
    with ``record`` (its config, ``searchtune_*.yaml`` by file name) and return (stats, trainer); ``around``:
    a context manager factory wrapping ``train()`` (the fused SPLADE step)."""
    import contextlib

    from transformers import PrinterCallback

    log_path.parent.mkdir(parents=True, exist_ok=True)
    trainer = trainer_cls(model=model, args=args, train_dataset=train_dataset, loss=loss,
                          callbacks=[*callbacks, log_callback(log_path), progress_callback(progress)])
    trainer.remove_callback(PrinterCallback)  # with tqdm off it would print every log dict
    checkpoint = last_checkpoint(ckpt_dir) if resume else None
    started = time.perf_counter()
    with (around(model) if around else contextlib.nullcontext()):
        result = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - started
    if is_main():  # the other ranks hold the same weights
        save_model(model, model_dir)
    for name, config in record.items():
        write_text(model_dir / name, yaml.safe_dump(config, sort_keys=False))
    stats = {"steps": trainer.state.global_step, "seconds": round(seconds, 2),
             "pairs_per_second": round(result.metrics.get("train_samples_per_second", 0.0), 2),
             "final_loss": result.metrics.get("train_loss"), "resumed": bool(checkpoint)}
    return stats, trainer


def save_model(model, model_dir: Path) -> None:
    """``model.save_pretrained``, with a full or read-only disk said in one line instead of a library error."""
    try:
        model.save_pretrained(str(model_dir))
    except Exception as exc:
        if not (isinstance(exc, OSError) or "Safetensor" in type(exc).__name__):
            raise
        raise SearchtuneError(f"could not write the model to {model_dir} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'write failed'}): free disk space or "
                              "choose another --out, then run again (with --resume the training is not redone "
                              "from scratch)") from None


def save_stats(model_dir: Path, stats: dict, ckpt_dir: Path) -> None:
    """``training_stats.json`` beside the model; the checkpoints (~100 MB) served only resume and go."""
    write_json(model_dir / STATS, stats, indent=2)
    if is_main():
        shutil.rmtree(ckpt_dir, ignore_errors=True)


def log_callback(path: Path):
    """A trainer callback appending every log entry (loss, lr, ...) to ``path`` as JSON lines: the
    studio draws the live loss curve from it."""
    from transformers import TrainerCallback

    class JsonlLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and is_main():
                entry = {"step": state.global_step, "time": round(time.time(), 2), **logs}
                with path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, default=float) + "\n")

    return JsonlLog()


def last_checkpoint(ckpt_dir: Path) -> str | None:
    """The latest complete checkpoint in ``ckpt_dir`` (to resume from), or None. A checkpoint is complete once
    the trainer has written its state; one cut off mid-save (the process killed while writing it) is skipped in
    favour of the one before."""
    done = [c for c in ckpt_dir.glob("checkpoint-*") if (c / "trainer_state.json").exists()
            and c.name.split("-")[-1].isdigit()]
    if not done:
        return None
    checkpoint = str(max(done, key=lambda c: int(c.name.split("-")[-1])))
    logger.info("resuming from %s", checkpoint)
    return checkpoint


def progress_callback(enabled: bool):
    """A rich progress bar over the training steps with ETA and the latest loss, instead of the trainer's
    tqdm bar with a log dict printed at every logging step (those go to train_log.jsonl)."""
    from transformers import TrainerCallback

    from .progress import duration, progress_bar

    class Progress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            from rich.progress import TextColumn

            self.bar = progress_bar("training", enabled, TextColumn("{task.fields[loss]}"))
            self.bar.start()
            self.task = self.bar.add_task("train", total=state.max_steps, completed=state.global_step, loss="")
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(self.task, completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.bar.update(self.task, loss=f"loss {float(logs['loss']):.3f}")

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.stop()
            logger.info("training: %d steps in %s", state.global_step, duration(time.perf_counter() - self.started))

    return Progress()
