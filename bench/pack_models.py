"""Carry fine-tuned SPLADE models back from a lent GPU machine, small: float16 deltas from the base model.

Usage:
  python bench/pack_models.py pack --out DIR [--base splade-tiny] [--part-mb 15] [--extra FILE]... NAME=MODEL_DIR...
  python bench/pack_models.py pack --out DIR --sweep RUN/sweep.json     (every finished model of a bench/sweep.py run)
  .venv/bin/python bench/pack_models.py unpack --parts DIR --dest runs/gpu-s20

The device tool brings back at most 8 files of 16 MiB (64 MiB in all) per call, and a splade-tiny model is
17.6 MB in float32. A fine-tuned model differs from its base by small amounts, so each model travels as
``model - base`` in float16 (8.8 MB, half the size; the rounding error is relative to the *change*, about
5e-4 of it, not to the weight) plus its small files (training stats, searchtune_config.yaml). ``unpack``
adds the deltas to the same base in float32 and saves complete model folders, which are then scored here:
the numbers reported are always those of the rebuilt models, never the device's.
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

SMALL = 1 << 20  # files under 1 MiB travel as they are (configs, stats, logs); weights travel as deltas


def _base_state(base: str):
    from searchtune.models import load_sparse_encoder, resolve_model

    model = load_sparse_encoder(resolve_model(base), device="cpu")
    sd = model.state_dict()
    seen, aliases = {}, {}  # tied weights (MLM decoder = word embeddings) travel once
    for k, v in sd.items():
        if v.is_floating_point():
            ptr = (v.data_ptr(), tuple(v.shape))
            if ptr in seen:
                aliases[k] = seen[ptr]
            else:
                seen[ptr] = k
    return model, {k: v.detach().float().cpu().clone() for k, v in sd.items() if v.is_floating_point()}, aliases


def pack(models: dict[str, str], out: Path, base: str, part_mb: float, extra: list[str]) -> None:
    import torch
    from safetensors.torch import save as save_tensors

    from searchtune.models import load_sparse_encoder

    _, base_sd, aliases = _base_state(base)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add_bytes(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        manifest = {"base": base, "models": {}}
        for name, path in models.items():
            sd = load_sparse_encoder(path, device="cpu").state_dict()
            if set(k for k, v in sd.items() if v.is_floating_point()) != set(base_sd):
                sys.exit(f"{path}: its layers differ from {base}'s; only models fine-tuned from {base} can be packed")
            delta = {k: (sd[k].detach().float().cpu() - base_sd[k]).to(torch.float16).contiguous()
                     for k in base_sd if k not in aliases}
            add_bytes(f"{name}/delta.safetensors", save_tensors(delta))
            for f in sorted(Path(path).rglob("*")):
                if f.is_file() and f.stat().st_size < SMALL and f.suffix not in (".safetensors", ".bin", ".pt"):
                    tar.add(f, arcname=f"{name}/files/{f.relative_to(path)}")
            manifest["models"][name] = path
        for f in extra:
            if Path(f).is_file():
                tar.add(f, arcname=f"extra/{Path(f).parent.name}-{Path(f).name}")
        add_bytes("manifest.json", json.dumps(manifest, indent=1).encode())
    data = buf.getvalue()
    out.mkdir(parents=True, exist_ok=True)
    size = int(part_mb * 1024 * 1024)
    for i in range(0, len(data), size):
        (out / f"models.tgz.part-{i // size}").write_bytes(data[i:i + size])
    print(f"packed {len(models)} models into {len(data) / 1e6:.1f} MB ({-(-len(data) // size)} parts) in {out}")


def unpack(parts: Path, dest: Path) -> None:
    import torch
    from safetensors.torch import load as load_tensors

    files = sorted(parts.glob("models.tgz.part-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    if not files:
        sys.exit(f"{parts}: no models.tgz.part-N files")
    data = b"".join(f.read_bytes() for f in files)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        manifest = json.loads(tar.extractfile(members["manifest.json"]).read())
        model, base_sd, aliases = _base_state(manifest["base"])
        for name, origin in manifest["models"].items():
            delta = load_tensors(tar.extractfile(members[f"{name}/delta.safetensors"]).read())
            delta |= {k: delta[src] for k, src in aliases.items()}
            with torch.no_grad():
                model.load_state_dict({k: base_sd[k] + delta[k].float() for k in base_sd}, strict=False)
                # base_sd holds copies: the next model starts from the base again, not from this one
            target = dest / name
            shutil.rmtree(target, ignore_errors=True)
            model.save(str(target))
            prefix = f"{name}/files/"
            for m in members.values():  # the small files the save does not write (stats, searchtune config)
                if m.isfile() and m.name.startswith(prefix):
                    f = target / m.name[len(prefix):]
                    if not f.exists():
                        f.parent.mkdir(parents=True, exist_ok=True)
                        f.write_bytes(tar.extractfile(m).read())
            (target / "origin.txt").write_text(f"{origin} (device), rebuilt from {manifest['base']} + float16 delta\n")
            print(f"{target}  <- {origin}")
        for m in members.values():
            if m.isfile() and m.name.startswith("extra/"):
                (dest / m.name[6:]).write_bytes(tar.extractfile(m).read())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pk = sub.add_parser("pack")
    pk.add_argument("--out", required=True)
    pk.add_argument("--base", default="splade-tiny")
    pk.add_argument("--part-mb", type=float, default=15)
    pk.add_argument("--sweep", action="append", default=[],
                    help="pack every finished model of this bench/sweep.py sweep.json (repeatable)")
    pk.add_argument("--extra", action="append", default=[], help="a small file to carry along (e.g. a log)")
    pk.add_argument("models", nargs="*", help="NAME=MODEL_DIR")
    up = sub.add_parser("unpack")
    up.add_argument("--parts", required=True)
    up.add_argument("--dest", required=True)
    a = p.parse_args()
    if a.cmd == "unpack":
        unpack(Path(a.parts), Path(a.dest))
        return
    models = dict(m.split("=", 1) for m in a.models)
    for i, sweep in enumerate(a.sweep):
        if not Path(sweep).is_file():
            print(f"{sweep}: missing (that sweep finished nothing)", file=sys.stderr)
            continue
        for name, entry in json.loads(Path(sweep).read_text())["grid"].items():
            for r in entry.get("rounds", []):
                models[f"{name}-r{r['round']}"] = r["model"]
        a.extra.append(sweep)
    if not models:
        sys.exit("nothing to pack")
    pack(models, Path(a.out), a.base, a.part_mb, a.extra)


if __name__ == "__main__":
    main()
