"""CUDA checks and GPU speed figures for the seed models (run by hand on a GPU machine; CI has none).

    python benchmarks/gpu_check.py pack --bench BENCH --heldout HELDOUT --tinyfqnet-labels RUN/labels.parquet --out gpu_pack
    python benchmarks/gpu_check.py run --pack gpu_pack --out results/gpu          # on the GPU machine

``pack`` (here, with dlib) cuts a small, self-contained sample of `faceiqa data build` outputs - faces, pseudo-MOS,
68-point landmarks, tinyFQnet's recognition-label crops - so the GPU machine needs no face detector and no shared
data. ``run`` then measures, per shipped default and per model config:

* parity: the same weights on CPU and on CUDA (fp32, and under ``torch.autocast`` fp16 / bf16) - max |difference| of
  the scores and their rank agreement;
* speed: forward latency at batch 1 and throughput at batch 64, fp32 and fp16 autocast (CUDA events, median of 20);
* training: each trainer (StyleGAN-IQA, DSL-FIQA, ResNet50, IFQA, tinyFQnet) for 2 epochs on CUDA with its mixed
  precision, then resumed to 3 epochs: losses finite, one metrics row per epoch, seconds per epoch, the best
  checkpoint read back on CPU scores like it does on CUDA.

Everything lands in ``--out`` as ``gpu_check.json`` plus ``parity.csv``, ``speed.csv`` and ``train.csv``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

DEVICE = "cuda"  # --device; anything else is for a dry run of this script (timings then by wall clock)
DEFAULTS = ("stylegan-iqa", "dsl-fiqa", "ifqa", "tinyfqnet")
SPEED = [("stylegan-iqa", "tiny"), ("stylegan-iqa", "lite"), ("stylegan-iqa", "paper"), ("dsl-fiqa", "lite"), ("dsl-fiqa", "paper"),
         ("ifqa", "lite"), ("ifqa", "paper"), ("resnet50-iqa", "lite"), ("resnet50-iqa", "paper"), ("tinyfqnet", "paper")]


# ----------------------------------------------------------------------------- pack (on a machine with dlib)
def make_pack(bench: Path, heldout: Path, tfq_labels: Path, out: Path, train_sources: int = 40, val_sources: int = 16,
              heldout_faces: int = 48, tfq_rows: int = 600, size: int = 192) -> None:
    """A few MB of real training and test inputs that travel to a GPU machine without the shared data."""
    import cv2

    from core.data.recognition_labels import add_quality
    from core.train.iqa import face_landmarks

    rng = np.random.default_rng(0)
    (out / "bench" / "images").mkdir(parents=True, exist_ok=True)
    (out / "heldout" / "images").mkdir(parents=True, exist_ok=True)
    t = pd.read_csv(bench / "labels.csv")
    keep = []
    for split, n in (("train", train_sources), ("val", val_sources)):
        sources = t[t.split == split].source.unique()
        keep += list(rng.choice(sources, size=min(n, len(sources)), replace=False))
    t = t[t.source.isin(keep)].copy()
    for name in t.image:
        img = cv2.imread(str(bench / name))
        cv2.imwrite(str(out / "bench" / name), cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
    lm = face_landmarks([str(bench / p) for p in t.image])
    t["landmarks"] = [v.ravel().tolist() for v in lm]
    t.to_parquet(out / "bench" / "labels.parquet", index=False)
    h = pd.read_csv(heldout / "labels.csv")
    h = h.iloc[np.sort(rng.choice(len(h), size=min(heldout_faces, len(h)), replace=False))].copy()
    for name in h.image:
        (out / "heldout" / name).write_bytes((heldout / name).read_bytes())
    h["landmarks"] = [v.ravel().tolist() for v in face_landmarks([str(heldout / p) for p in h.image])]
    h.to_parquet(out / "heldout" / "labels.parquet", index=False)
    q = add_quality(pd.read_parquet(tfq_labels).dropna(subset=["crop"]))
    ids = sorted(q.identity.unique())
    picked = list(rng.choice(ids, size=min(len(ids), max(2, tfq_rows // 40)), replace=False))
    q = q[q.identity.isin(picked)].head(tfq_rows).copy()
    val_ids = set(picked[: max(1, len(picked) // 4)])
    q["split"] = np.where(q.identity.isin(val_ids), "val", "train")
    q.to_parquet(out / "tinyfqnet.parquet", index=False)
    print(f"{out}: {len(t)} training faces, {len(h)} held-out faces, {len(q)} tinyFQnet crops")


# ----------------------------------------------------------------------------- run (on the GPU machine)
def _landmarks(table: pd.DataFrame) -> np.ndarray:
    """(N, 68, 2) from the pack's ``landmarks`` column (flat lists, divided by the crop size)."""
    return np.stack([np.asarray(v, np.float32).reshape(68, 2) for v in table.landmarks])


def _faces_and_landmarks(table: pd.DataFrame, root: Path, size: int) -> tuple[torch.Tensor, np.ndarray]:
    from core.train.iqa import load_faces

    return load_faces([str(root / p) for p in table.image], size), _landmarks(table)


def _predict(model, x_uint8: torch.Tensor, lm: np.ndarray | None, dtype: torch.dtype | None) -> np.ndarray:
    """``core.train.iqa.predict_table``, under autocast to ``dtype`` (None: fp32)."""
    from core.train.iqa import predict_table

    with torch.no_grad(), torch.autocast(model.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        return predict_table(model, x_uint8, lm)


def parity(pack: Path) -> list[dict]:
    from scipy.stats import spearmanr

    from core.models import create_model
    from core.train.tinyfqnet import crops_tensor

    h = pd.read_parquet(pack / "heldout" / "labels.parquet")
    tfq = pd.read_parquet(pack / "tinyfqnet.parquet")
    rows = []
    for name in DEFAULTS:
        cpu = create_model(name, pretrained=True, device="cpu")
        gpu = create_model(name, pretrained=True, device=DEVICE)
        if name == "tinyfqnet":
            x, lm = crops_tensor(tfq), None
        else:
            x, lm = _faces_and_landmarks(h, pack / "heldout", cpu.info.input_size)
            lm = lm if "landmarks" in cpu.info.inputs else None
        ref = _predict(cpu, x, lm, None)
        for label, dtype in (("fp32", None), ("fp16 autocast", torch.float16), ("bf16 autocast", torch.bfloat16)):
            got = _predict(gpu, x, lm, dtype)
            rows.append({"model": name, "precision": label, "n": len(ref), "max_abs_diff": float(np.abs(got - ref).max()),
                         "mean_abs_diff": float(np.abs(got - ref).mean()), "srcc_vs_cpu": float(spearmanr(got, ref).statistic),
                         "score_range": float(ref.max() - ref.min())})
            print(rows[-1], flush=True)
    return rows


def _sync() -> None:
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def _cuda_time(fn, repeat: int = 20) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        if not DEVICE.startswith("cuda"):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
            continue
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / 1000.0)
    return statistics.median(times)


def speed(batch: int = 64) -> list[dict]:
    from core.models import create_model

    rows = []
    for name, config in SPEED:
        model = create_model(name, pretrained=False, device=DEVICE, config=config).eval()
        s = model.info.input_size
        params = sum(p.numel() for p in model.parameters()) / 1e6
        for label, dtype in (("fp32", None), ("fp16 autocast", torch.float16)):
            rec = {"model": name, "config": config, "input": s, "params_M": round(params, 4), "precision": label}
            for n in (1, batch):
                b = {"aligned": torch.rand(n, 3, s, s, device=DEVICE)}
                if "landmarks" in model.info.inputs:
                    b["landmarks"] = torch.rand(n, 68, 2, device=DEVICE) * 0.5 + 0.25

                def fwd(b=b, dtype=dtype, model=model):
                    with torch.no_grad(), torch.autocast(torch.device(DEVICE).type, dtype=dtype or torch.float32, enabled=dtype is not None):
                        model(b)

                try:
                    t = _cuda_time(fwd)
                except torch.OutOfMemoryError:
                    t = float("nan")
                    torch.cuda.empty_cache()
                if n == 1:
                    rec["latency_ms_b1"] = round(t * 1000, 3)
                else:
                    rec[f"images_per_s_b{batch}"] = round(n / t, 1)
            if DEVICE.startswith("cuda"):
                rec["peak_mem_MiB"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
                torch.cuda.reset_peak_memory_stats()
            rows.append(rec)
            print(rec, flush=True)
        del model
        if DEVICE.startswith("cuda"):
            torch.cuda.empty_cache()
    return rows


def _bench_tables(pack: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    t = pd.read_parquet(pack / "bench" / "labels.parquet")
    t["path"] = [str(pack / "bench" / p) for p in t.image]
    return t[t.split == "train"], t[t.split != "train"]


def _seed_landmarks(run: Path, *tables: pd.DataFrame) -> None:
    run.mkdir(parents=True, exist_ok=True)
    rows = pd.concat([t[["path", "landmarks"]] for t in tables]).drop_duplicates("path")
    rows.to_parquet(run / "landmarks.parquet", index=False)


def train_checks(pack: Path, work: Path) -> list[dict]:
    """2 epochs on CUDA, resumed to 3; the shipped recipes' settings at the shipped (lite / tiny) sizes."""
    from core.models import create_model
    from core.train.iqa import IFQATrainConfig, IQATrainConfig, load_faces, predict_table, train_ifqa, train_iqa
    from core.train.tinyfqnet import TinyFQTrainConfig, crops_tensor, train_tinyfqnet

    train, val = _bench_tables(pack)
    clean = pd.concat([train, val]).query("degradation == 'clean'").set_index("source")["path"]
    pairs = train[train.degradation != "clean"].assign(clean_path=lambda d: d.source.map(clean)).dropna(subset=["clean_path"])
    q = pd.read_parquet(pack / "tinyfqnet.parquet")
    q_train, q_val = q[q.split == "train"], q[q.split == "val"]
    # step_epochs=10 instead of the recipes' cosine (0): a cosine schedule spans the epoch count, so only a stepped run
    # may be extended from 2 to 3 epochs
    recipes = {
        "stylegan-iqa": IQATrainConfig(epochs=2, batch=16, lr=2e-4, step_epochs=10, model={"config": "tiny"}, rank_weight=1.0,
                                       face_batches=True, jpeg_copies=4),
        "dsl-fiqa": IQATrainConfig(epochs=2, batch=16, lr=1e-4, step_epochs=10, dsl_pretrain_steps=50, rank_weight=1.0,
                                   face_batches=True, jpeg_copies=4, model={"config": "lite"}),
        "resnet50-iqa": IQATrainConfig(epochs=2, batch=16, lr=1e-4, step_epochs=10, model={"config": "lite"}),
    }
    rows = []
    for name, cfg in [*recipes.items(), ("ifqa", IFQATrainConfig(epochs=2, batch=8)), ("tinyfqnet", TinyFQTrainConfig(epochs=2, batch=64))]:
        run = work / name
        rec = {"model": name}
        try:
            _seed_landmarks(run, train, val)
            for epochs in (2, 3):  # the second call resumes the first run's last.* and adds one epoch
                t0 = time.perf_counter()
                if name == "ifqa":
                    _, hist = train_ifqa(pairs, val, run, replace(cfg, epochs=epochs), progress=False)
                elif name == "tinyfqnet":
                    _, hist = train_tinyfqnet(q_train, q_val, run, replace(cfg, epochs=epochs), progress=False)
                else:
                    _, hist = train_iqa(name, train, val, run, replace(cfg, epochs=epochs), progress=False)
                _sync()
                rec[f"seconds_to_epoch_{epochs}"] = round(time.perf_counter() - t0, 2)
            loss_cols = [c for c in hist.columns if c.endswith(("loss", "_l2"))]
            rec.update(epochs_logged=len(hist), losses_finite=bool(np.isfinite(hist[loss_cols].to_numpy(float)).all()),
                       val_srcc=[round(float(v), 4) for v in hist.val_srcc], losses={c: [round(float(v), 4) for v in hist[c]] for c in loss_cols})
            cpu = create_model(name, weights=run / f"{name}.safetensors", device="cpu")
            gpu = create_model(name, weights=run / f"{name}.safetensors", device=DEVICE)
            if name == "tinyfqnet":
                x, lm = crops_tensor(q_val), None
            else:
                x = load_faces(val["path"], cpu.info.input_size)
                lm = _landmarks(val) if "landmarks" in cpu.info.inputs else None
            rec["best_cpu_vs_cuda_max_abs_diff"] = float(np.abs(predict_table(cpu, x, lm) - predict_table(gpu, x, lm)).max())
            rec["ok"] = rec["losses_finite"] and rec["epochs_logged"] == 3
        except Exception as e:  # noqa: BLE001 - one trainer's failure is a finding, the others still run
            rec.update(ok=False, error=f"{type(e).__name__}: {e}", trace=traceback.format_exc()[-2000:])
        rows.append(rec)
        print(json.dumps(rec), flush=True)
    return rows


def run_checks(pack: Path, out: Path, sections: list[str], work: Path | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    report = {"torch": torch.__version__, "cuda": torch.version.cuda,
              "device": torch.cuda.get_device_name(0) if DEVICE.startswith("cuda") else f"{DEVICE} ({torch.get_num_threads()} threads)",
              "python": platform.python_version(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    torch.backends.cudnn.benchmark = False
    for section in sections:
        t0 = time.perf_counter()
        try:
            rows = {"parity": lambda: parity(pack), "speed": speed, "train": lambda: train_checks(pack, work or out / "runs")}[section]()
            pd.DataFrame(rows).to_csv(out / f"{section}.csv", index=False)
            report[section] = rows
        except Exception as e:  # noqa: BLE001
            report[section] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-3000:]}
            print(report[section], flush=True)
        report[f"{section}_seconds"] = round(time.perf_counter() - t0, 1)
        (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--bench", type=Path, required=True, help="a `faceiqa data build` folder (train/val split)")
    p.add_argument("--heldout", type=Path, required=True, help="a `faceiqa data build` folder of held-out people")
    p.add_argument("--tinyfqnet-labels", type=Path, required=True, help="labels.parquet of `faceiqa train tinyfqnet`")
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run")
    r.add_argument("--pack", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--work", type=Path, default=None, help="training runs (default: OUT/runs)")
    r.add_argument("--sections", default="parity,speed,train")
    r.add_argument("--device", default="cuda", help="cuda (default); cpu only to dry-run this script")
    args = ap.parse_args()
    if args.cmd == "pack":
        make_pack(args.bench, args.heldout, args.tinyfqnet_labels, args.out)
    else:
        global DEVICE
        DEVICE = args.device
        if DEVICE.startswith("cuda") and not torch.cuda.is_available():
            raise SystemExit("run needs a CUDA device (--device cpu only dry-runs it)")
        run_checks(args.pack, args.out, args.sections.split(","), args.work)


if __name__ == "__main__":
    main()
