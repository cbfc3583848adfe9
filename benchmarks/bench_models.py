"""Parameters, GFLOPs and latency per model and config, beside the papers' figures.

    python benchmarks/bench_models.py                 # CPU, batch 1, paper + lite configs
    python benchmarks/bench_models.py --device cuda --out benchmarks/results/models_cuda.csv
    python benchmarks/bench_models.py --models dsl-fiqa                  # re-measure one model's rows in place

FLOPs come from ``torch.utils.flop_counter`` (2 per multiply-add) on the meta device for the
paper configs (nothing allocated) and on real tensors for the lite ones; latency is the median
of ``--repeat`` forward passes after a warm-up (``--skip-paper-latency`` to skip the big ones).
Paper figures: GFIQA Table VI (StyleGAN-IQA 240.75 GFLOPs, 0.205 s on a GPU); tinyFQnet text
(21.806 k params, 2.356 MFLOPs) and Table VI (mobilenet t4 w0.35: 0.013 M params, 1.43 MFLOPs);
IFQA public model (~105 M params); DSL-FIQA public code (ViT-B/16-384 + 116 M landmark MLP).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from core.models import create_model

PAPER = {
    ("stylegan-iqa", "paper"): "240.75 GFLOPs, 0.205 s (GFIQA Table VI)",
    ("tinyfqnet", "paper"): "21.806k params / 2.356 MFLOPs (text); 0.013 M / 1.43 MFLOPs (Table VI t4 w0.35)",
    ("ifqa", "paper"): "~105 M params (public model.py)",
    ("dsl-fiqa", "paper"): "ViT-B/16-384 (86 M) + 116 M landmark MLP (public code)",
    ("resnet50-iqa", "paper"): "ResNet50 baseline (GFIQA Table III)",
    ("mobile-fiqa", "paper"): "VQualA 2025 budget: <= 0.5 GFLOPs (multiply-adds, thop convention), <= 5 M params",
}
CONFIGS = [("stylegan-iqa", "paper"), ("stylegan-iqa", "lite"), ("dsl-fiqa", "paper"), ("dsl-fiqa", "lite"),
           ("ifqa", "paper"), ("ifqa", "lite"), ("ifqa", "lite+mirror"), ("resnet50-iqa", "paper"), ("resnet50-iqa", "lite"),
           ("tinyfqnet", "paper"), ("mobile-fiqa", "paper")]

#: configs measured with overrides: the shipped IFQA runs D on the face and on its mirror image (``mirror_average``)
VARIANTS = {"lite+mirror": ("lite", {"mirror_average": True})}


def batch_for(model, device, n: int = 1) -> dict:
    s = model.info.input_size
    b = {"aligned": torch.rand(n, 3, s, s, device=device)}
    if "landmarks" in model.info.inputs:
        b["landmarks"] = torch.rand(n, 68, 2, device=device)
    return b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--skip-paper-latency", action="store_true")
    ap.add_argument("--models", nargs="*", default=None, help="only these models (their rows replace those in an existing --out)")
    ap.add_argument("--out", default="benchmarks/results/models_cpu.csv")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name, config in [c for c in CONFIGS if not args.models or c[0] in args.models]:
        base, extra = VARIANTS.get(config, (config, {}))
        with torch.device("meta"):
            meta = create_model(name, pretrained=False, device="meta", config=base, **extra)
        params = sum(p.numel() for p in meta.parameters())
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            meta(batch_for(meta, "meta"))
        gflops = fc.get_total_flops() / 1e9
        latency = None
        if not (config == "paper" and args.skip_paper_latency):
            model = create_model(name, pretrained=False, device=args.device, config=base, **extra)
            b = batch_for(model, args.device)
            with torch.no_grad():
                model(b)
                times = []
                for _ in range(args.repeat):
                    if args.device.startswith("cuda"):
                        torch.cuda.synchronize()
                    t = time.perf_counter()
                    model(b)
                    if args.device.startswith("cuda"):
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - t)
            latency = statistics.median(times)
            del model
        rows.append({"model": name, "config": config, "input": meta.info.input_size, "params_M": round(params / 1e6, 4),
                     "GFLOPs": round(gflops, 4), f"latency_s_{args.device}": None if latency is None else round(latency, 4),
                     "paper": PAPER.get((name, config), "")})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    if args.models and Path(args.out).is_file():  # keep the other models' rows, in their order
        old = pd.read_csv(args.out)
        new = table.set_index(["model", "config"])
        table = pd.concat([new.loc[[k]].reset_index() if k in new.index else old.iloc[[i]]
                           for i, k in enumerate(zip(old.model, old.config))]
                          + [new.loc[[k]].reset_index() for k in new.index if k not in set(zip(old.model, old.config))],
                          ignore_index=True)
        order = {k: i for i, k in enumerate(CONFIGS)}  # a new config's row goes where CONFIGS lists it
        table = table.iloc[sorted(range(len(table)), key=lambda i: order.get((table.model[i], table.config[i]), len(order)))]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
