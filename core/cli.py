"""``faceiqa`` command line: ``score``, ``models``, ``data build|stats``, ``train robust-face|model|tinyfqnet|defaults``,
``evaluate``, ``compare``, ``studio``, ``explore``. Each command parses its options here and calls the library."""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from .errors import FaceIQAError


def _cmd_models(args) -> int:
    from .models import list_models  # noqa: PLC0415

    infos = list_models()
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=2))
        return 0
    print(f"{'name':<22}{'range':<12}{'lower_better':<14}{'inputs':<34}description")
    for i in infos:
        rng = f"{i.score_range[0]:g}..{i.score_range[1]:g}"
        print(f"{i.name:<22}{rng:<12}{str(i.lower_better):<14}{','.join(i.inputs):<34}{i.description}")
    return 0


def _cmd_score(args) -> int:
    from .api import Scorer  # noqa: PLC0415
    from .batch import score_files  # noqa: PLC0415
    from .faces import FaceDetector  # noqa: PLC0415
    from .io import iter_image_paths  # noqa: PLC0415

    if args.max_pixels:
        os.environ["FACEIQA_MAX_PIXELS"] = str(args.max_pixels)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"faceiqa score: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    files = iter_image_paths(args.paths)
    if not files:
        print("faceiqa score: no image files found (looked for " + ", ".join(sorted({".jpg", ".png", ".webp", ".bmp", ".tif"})) + ")", file=sys.stderr)
        return 2
    detector = FaceDetector(detector=args.detector, landmarker=args.landmarker,
                            fallback=None if args.fallback == "none" else args.fallback)
    scorer = Scorer(args.model, weights=args.weights, device=args.device, detector=detector)
    summary = score_files(files, args.out, scorer, faces=args.faces, aligned=args.aligned, progress=not args.quiet)
    print(f"{args.out}: {summary}")
    return 0


def _source_caps(text: str | None) -> int | tuple[int, ...] | None:
    """``--max-sources``: one number for every folder, or one per folder (``300,100,40``; 0 = no cap)."""
    if text is None:
        return None
    try:
        caps = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise FaceIQAError(f"--max-sources wants whole numbers separated by commas, not {text!r}") from None
    return caps[0] if len(caps) == 1 else caps  # build_benchmark checks one cap per folder


def _type_weights(text: str | None) -> dict[str, float] | None:
    """``jpeg=3,webp=2`` -> {"jpeg": 3.0, "webp": 2.0} (the build checks the names)."""
    if not text:
        return None
    out = {}
    for part in str(text).split(","):
        name, sep, value = (v.strip() for v in part.partition("="))
        try:
            out[name] = float(value) if sep and name else None
        except ValueError:
            out[name] = None
        if out[name] is None:
            raise FaceIQAError(f"--type-weights wants type=weight pairs separated by commas (jpeg=3,webp=2), not {text!r}")
    return out


def _cmd_data_build(args) -> int:
    from .data.build import BuildConfig, build_benchmark  # noqa: PLC0415

    cfg = BuildConfig(per_source=args.per_source, compose_prob=args.compose_prob, photo_prob=args.photo_prob, seed=args.seed,
                      image_format=args.format, max_sources=_source_caps(args.max_sources), ladder=args.ladder,
                      max_per_identity=args.max_per_identity or None, size=args.size, identities=args.identities,
                      holdout=args.holdout, holdout_seed=args.split_seed, source_weight=args.source_weight,
                      type_weights=_type_weights(args.type_weights))
    if args.extra_types:
        from .data.degrade import EXTRA_TYPES, TYPES  # noqa: PLC0415

        extra = [t.strip() for t in args.extra_types.split(",") if t.strip()]
        bad = sorted(set(extra) - set(EXTRA_TYPES))
        if bad:
            raise FaceIQAError(f"--extra-types: {bad} are not opt-in degradation types; choose from {', '.join(EXTRA_TYPES)}")
        cfg.types = TYPES + tuple(t for t in EXTRA_TYPES if t in extra)
    labels, summary = build_benchmark(args.src, args.out, cfg, progress=not args.quiet)
    print(f"{args.out}: {summary.images} images from {summary.sources_used} faces "
          f"({summary.no_face} photos without a face, {summary.unreadable} unreadable); identities per split {summary.identities}")
    return 0


def _cmd_data_stats(args) -> int:
    from .analysis.audit import audit  # noqa: PLC0415
    from .data.datasets import load_dataset  # noqa: PLC0415

    ds = load_dataset(args.dataset, root=args.root)
    print(f"{ds.name}: {ds.report}")
    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out.with_name(out.stem + ".cache")
    per_image, summary = audit(ds, cache, aligned=args.aligned, workers=args.workers, progress=not args.quiet)
    out.parent.mkdir(parents=True, exist_ok=True)
    (per_image.to_parquet if out.suffix == ".parquet" else lambda p, index: per_image.to_csv(p, index=index))(out, index=False)
    for name, table in summary.items():
        print(f"\n== {name}\n{table.to_string()}")
    print(f"\nper-image table: {out}")
    return 0


def _cmd_train_robust(args) -> int:
    import numpy as np  # noqa: PLC0415

    from .faces.robust import RobustConfig  # noqa: PLC0415
    from .faces.teacher import teacher_labels  # noqa: PLC0415
    from .io import iter_image_paths  # noqa: PLC0415
    from .train.robust_face import TrainConfig, build_pool, train  # noqa: PLC0415

    cfg = TrainConfig()
    if args.config:
        import yaml  # noqa: PLC0415

        raw = yaml.safe_load(Path(args.config).read_text()) or {}
        model = RobustConfig(**{k: tuple(v) if k == "widths" else v for k, v in (raw.pop("model", {}) or {}).items()})
        cfg = TrainConfig(**raw, model=model)
    for key in ("minutes", "steps", "batch", "max_photos"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    photos = iter_image_paths([os.path.abspath(args.photos)])  # absolute: a rerun from another folder resumes the same rows
    if args.holdout > 0:  # identity folders (LFW layout): never train on the people the evaluation holds out
        from .data.build import identity_split  # noqa: PLC0415

        split = identity_split({Path(p).parent.name for p in photos}, (1 - args.holdout, 0.0, args.holdout), seed=args.split_seed)
        photos = [p for p in photos if split[Path(p).parent.name] == "train"]
    order = np.random.default_rng(cfg.seed).permutation(len(photos))  # a random sample, not the alphabet's first names
    photos = [photos[i] for i in order[: cfg.max_photos]]
    labels_path = Path(args.teacher_cache or Path(args.out).with_suffix(".teacher.parquet"))
    teacher = teacher_labels(photos, labels_path, workers=args.workers)
    teacher = teacher[teacher["path"].isin({str(p) for p in photos})]
    print(f"teacher: {int((teacher.n_faces > 0).sum())} of {len(teacher)} photos with faces ({labels_path})")
    pool = build_pool(teacher, cfg.variants, cfg.max_photos, cfg.seed, workers=args.workers, absolute_prob=cfg.absolute_prob,
                      occlusion_prob=cfg.occlusion_prob)
    print(f"pool: {len(pool)} images; training for " + (f"{cfg.steps} steps" if cfg.steps > 0 else f"{cfg.minutes} min"))
    train(pool, cfg, out_path=args.out)
    print(f"wrote {args.out} (+ .json card)")
    return 0


def _read_labels(path: str, root: str | None):
    import pandas as pd  # noqa: PLC0415

    t = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    col = "path" if "path" in t.columns else "image"
    if col not in t.columns or "mos" not in t.columns:
        raise FaceIQAError(f"{path}: needs columns 'image' (or 'path') and 'mos'")
    base = Path(root) if root else Path(path).parent
    t["path"] = [str(p) if Path(p).is_absolute() else str(base / p) for p in t[col]]
    return t


def _cmd_train_model(args) -> int:
    from dataclasses import replace  # noqa: PLC0415

    from .train.config import load_run_config, load_training_table, train_config  # noqa: PLC0415
    from .train.iqa import train_ifqa, train_iqa  # noqa: PLC0415

    if args.config:
        run = load_run_config(args.config)
        if args.name and args.name != run.model:
            raise FaceIQAError(f"{args.config} trains {run.model!r}, not {args.name!r}")
        args.name, cfg = run.model, run.train
        if args.labels:
            table = _read_labels(args.labels, args.root)
        else:
            if run.dataset in ("gfiqa-20k", "cgfiqa-40k", "piq23") and not (args.root or run.root):
                raise FaceIQAError(f"{args.config}: {run.dataset} needs --root (the folder you downloaded it to)")
            table = load_training_table(run.dataset, args.root or run.root, run.dataset_args)
    else:
        if not args.name or not args.labels:
            raise FaceIQAError("give a model name and --labels, or --config configs/train/<model>/<dataset>.yaml")
        cfg = train_config(args.name, args.preset)
        table = _read_labels(args.labels, args.root)
    source = args.config or args.labels
    if "split" not in table.columns:
        raise FaceIQAError(f"{source}: needs a 'split' column (train / val / test)")
    train, val = table[table.split == "train"], table[table.split == "val"]
    if val.empty:
        raise FaceIQAError(f"{source}: no 'val' rows to select the best epoch on")
    over = {k: v for k, v in (("epochs", args.epochs), ("batch", args.batch), ("seed", args.seed)) if v is not None}
    cfg = replace(cfg, **over)
    if args.name == "ifqa":  # a GAN, not a MOS regressor: its own trainer on (degraded, clean) pairs
        from .train.iqa import restoration_pairs  # noqa: PLC0415

        pairs = restoration_pairs(table, train)
        reals = None
        if cfg.extra_reals:
            if not args.reals:
                raise FaceIQAError(f"{source}: extra_reals = {cfg.extra_reals} needs --reals (labels of clean faces: faceiqa data build --per-source 0)")
            from .train.iqa import select_reals  # noqa: PLC0415

            reals = select_reals(_read_labels(args.reals, None), table, cfg.reals_min_sharpness)
            print(f"ifqa: {len(reals)} extra real faces (sharpness >= {cfg.reals_min_sharpness}) from {args.reals}")
        _, hist = train_ifqa(pairs, val, args.out, cfg, reals=reals)
    else:
        _, hist = train_iqa(args.name, train, val, args.out, cfg)
    if int(os.environ.get("RANK", "0")) == 0 and len(hist):
        best = hist.loc[hist.val_srcc.idxmax()]
        print(f"{args.out}: best epoch {int(best.epoch)} val SRCC {best.val_srcc:.4f} -> {Path(args.out) / (args.name + '.safetensors')}")
    import torch.distributed as dist  # noqa: PLC0415

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 0


def _cmd_train_mobile(args) -> int:
    from .data.ratings import labels as rated_labels  # noqa: PLC0415
    from .train.mobile import MobileTrainConfig, train_mobile  # noqa: PLC0415

    cfg = MobileTrainConfig.from_yaml(args.config) if args.config else MobileTrainConfig()
    build = _read_labels(args.build, None)
    build["image"] = build["path"]
    rated = rated_labels(args.ratings, args.data_root)
    if not (rated["split"] == "val").any() or not (rated["split"] == "train").any():
        raise FaceIQAError(f"{args.ratings}: needs rated 'train' and 'val' faces")
    work = args.work or str(Path(args.out).with_suffix("")) + "-work"
    report = train_mobile(build, rated, args.out, cfg, work, progress=not args.quiet)
    sel = report["selected"]
    print(f"{args.out}: recipe {sel['name']} alpha {sel['alpha']:g} mix {sel['mix']:g} "
          f"(rated val SRCC {report['selection_row']['rated_val_srcc']:.3f}, synthetic val "
          f"{report['selection_row']['synthetic_val_srcc']:.3f})"
          + (f"; rated test SRCC {report['rated_test']['srcc']:.3f}" if "rated_test" in report else ""))
    return 0


def _cmd_train_distil(args) -> int:
    from .data.ratings import labels as rated_labels  # noqa: PLC0415
    from .train.distil import distillation_table, teacher_scores  # noqa: PLC0415

    build = _read_labels(args.build, None)
    build["image"] = build["path"]
    rated = rated_labels(args.ratings, args.data_root)
    scores = teacher_scores(build["image"].tolist(), args.teacher, args.teacher_weights, progress=not args.quiet)
    table = distillation_table(build, rated, scores, args.teacher, args.human_repeat)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(args.out) + ".tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(args.out)  # never a half-written table
    n = table["split"].value_counts().to_dict()
    print(f"{args.out}: {len(table)} rows {n}; teacher {args.teacher} on {int((table.label != 'human').sum())} build faces")
    return 0


def _cmd_train_tinyfqnet(args) -> int:
    from dataclasses import fields, replace  # noqa: PLC0415

    from .data.build import identity_split  # noqa: PLC0415
    from .data.recognition_labels import DamageConfig, LabelConfig, build_damage_pairs, build_recognition_labels  # noqa: PLC0415
    from .io import iter_image_paths  # noqa: PLC0415
    from .train.tinyfqnet import PRESETS, damage_tensors, train_tinyfqnet  # noqa: PLC0415

    raw: dict = {}
    if args.config:  # configs/train/tinyfqnet/*.yaml: preset + checked overrides (train: ..., labels: ..., damage: ...)
        import yaml  # noqa: PLC0415

        raw = yaml.safe_load(Path(args.config).read_text()) or {}
        if raw.get("model", "tinyfqnet") != "tinyfqnet":
            raise FaceIQAError(f"{args.config} trains {raw.get('model')!r}, not tinyfqnet")
        for section, cls in (("train", PRESETS["paper"]), ("labels", LabelConfig()), ("damage", DamageConfig())):
            bad = sorted(set(raw.get(section) or {}) - {f.name for f in fields(cls)})
            if bad:
                raise FaceIQAError(f"{args.config}: unknown {section} keys {bad}")
    # label settings: command-line flag > config file > the CLI's defaults
    label_over = {"min_images": 10, "max_per_identity": 10, "variants": 3, **(raw.get("labels") or {})}
    label_over.update({k: v for k, v in (("variants", args.variants), ("min_images", args.min_images),
                                         ("max_per_identity", args.max_per_identity)) if v is not None})
    photos = iter_image_paths([os.path.abspath(args.photos)])  # absolute: a rerun from another folder resumes the same rows
    people = [Path(p).parent.name for p in photos]  # identity folders (LFW layout)
    split = identity_split(set(people), (1 - args.holdout - args.val, args.val, args.holdout), seed=args.split_seed)
    keep = [i for i, y in enumerate(people) if split[y] != "test"]  # test identities never enter training
    out = Path(args.out)
    labels = build_recognition_labels([photos[i] for i in keep], [people[i] for i in keep], out / "labels.parquet",
                                      replace(LabelConfig(), **label_over), workers=args.workers)
    train, val = labels[labels.identity.map(split) == "train"], labels[labels.identity.map(split) == "val"]
    print(f"labels: {len(labels)} faces of {labels.identity.nunique()} identities ({len(train)} train, {len(val)} val)")
    cfg = replace(PRESETS[raw.get("preset", args.preset)], **(raw.get("train") or {}))
    cfg = replace(cfg, **({"epochs": args.epochs} if args.epochs else {}))
    pairs = None
    if cfg.rank_weight > 0 or cfg.pretrain_epochs > 0:  # damage pre-training and the ranking term's (clean, heavily damaged) pairs: training people's photos only
        photos_tr = train.loc[train.degradation == "clean", ["path", "identity"]]
        table = build_damage_pairs(photos_tr.path, photos_tr.identity, out / "damage_pairs.parquet",
                                   DamageConfig(**(raw.get("damage") or {})), workers=args.workers)
        print(f"damage pairs: {len(table)} ({', '.join(sorted(set(table.degradation)))})")
        pairs = damage_tensors(table)
    _, hist = train_tinyfqnet(train, val, out, cfg, damage_pairs=pairs)
    best = hist.loc[hist.val_srcc.idxmax()]
    print(f"{out / 'tinyfqnet.safetensors'}: best epoch {int(best.epoch)}, val SRCC {best.val_srcc:.4f}")
    return 0


def _cmd_train_defaults(args) -> int:
    from .train.defaults import RESULTS, load_recipe, run_defaults  # noqa: PLC0415

    recipe = load_recipe(args.recipe)
    unknown = sorted(set(args.models or ()) - set(recipe.models))
    if unknown:
        raise FaceIQAError(f"{args.recipe} has no recipe for {unknown}; it trains {list(recipe.models)}")
    metrics = run_defaults(recipe, Path(args.data).resolve(), Path(args.work).resolve(), Path(args.results or RESULTS).resolve(),
                           models=args.models, ship=args.ship, seeds=args.seeds)
    for name, m in metrics.items():
        print(f"{name}: held-out SRCC {m['srcc']:.4f} PLCC {m['plcc']:.4f} ({m['n']} images)")
    return 0


def _cmd_evaluate(args) -> int:
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from .analysis.metrics import evaluate  # noqa: PLC0415
    from .models import create_model  # noqa: PLC0415
    from .train.iqa import face_landmarks, load_faces, predict_table  # noqa: PLC0415

    table = _read_labels(args.labels, args.root)
    if args.split and "split" in table.columns:
        table = table[table.split == args.split]
    model = create_model(args.name, weights=args.weights, device=args.device)
    if set(model.info.inputs) <= {"aligned", "landmarks"}:  # batched tensors
        lm = face_landmarks(table["path"]) if "landmarks" in model.info.inputs else None
        raw = predict_table(model, load_faces(table["path"], model.info.input_size), lm)
        pred = model.to_mos(torch.from_numpy(raw)).numpy()
    else:  # models that need more than the crop (e.g. the original JPEG grid): through the scorer, one face each
        from .analysis.evaluate import predict_aligned  # noqa: PLC0415

        raw = pred = predict_aligned(model, table["path"].tolist())
    s = evaluate(pred, table["mos"].to_numpy())
    out = table.drop(columns=["path"]).assign(prediction=pred, raw=raw, error=pred - table["mos"].to_numpy())
    out.to_csv(args.out, index=False)
    if args.metrics:
        Path(args.metrics).write_text(json.dumps({"model": args.name, "weights": args.weights, "labels": args.labels,
                                                  "split": args.split, "n": len(table), **{k: round(float(getattr(s, k)), 5)
                                                  for k in ("srcc", "krcc", "plcc", "rmse")}}, indent=2))
    print(f"{args.name} on {len(table)} images: SRCC {s.srcc:.4f} KRCC {s.krcc:.4f} PLCC {s.plcc:.4f} RMSE {s.rmse:.4f} "
          f"(mean |error| {np.mean(np.abs(out.error)):.4f}); predictions -> {args.out}")
    return 0


def _cmd_compare(args) -> int:
    from .analysis.evaluate import by_dataset, to_markdown  # noqa: PLC0415

    labels = args.labels if isinstance(args.labels, list) else [args.labels]
    out = Path(args.out)
    if len(labels) == 1:
        _compare_one(labels[0], args, out)
        return 0
    # several datasets (e.g. cross-dataset testing): one folder each, plus a DSL-FIQA Table 2 shaped summary
    names = [Path(p).parent.name or Path(p).stem for p in labels]
    if len(set(names)) < len(names):
        names = [f"{n}-{i}" for i, n in enumerate(names)]
    tables = {n: _compare_one(p, args, out / n) for n, p in zip(names, labels)}
    wide = by_dataset(tables)
    text = f"# Model comparison across datasets (split {args.split or 'all'})\n\n{to_markdown(wide)}\n"
    (out / "comparison.md").write_text(text)
    wide.to_csv(out / "comparison.csv", index=False)
    print(text)
    return 0


def _compare_one(labels: str, args, out: Path):
    from .analysis.evaluate import (  # noqa: PLC0415
        ladder_srcc,
        metrics_table,
        predict_aligned,
        side_by_side,
        stacked,
        subgroup_metrics,
        to_markdown,
    )
    from .models import create_model  # noqa: PLC0415

    table = _read_labels(labels, args.root)
    if args.split and "split" in table.columns:
        table = table[table.split == args.split]
    weights = dict(w.split("=", 1) for w in args.weights)
    out.mkdir(parents=True, exist_ok=True)
    preds = {}
    for name in args.models:
        model = create_model(name, weights=weights.get(name), device=args.device)
        p = predict_aligned(model, table["path"].tolist(), progress=not args.quiet)
        preds[name] = table.drop(columns=["path"]).assign(prediction=p, error=p - table["mos"].to_numpy())
        preds[name].to_csv(out / f"predictions_{name}.csv", index=False)
    main_table = metrics_table(preds)
    parts = [f"# Model comparison ({len(table)} images, split {args.split or 'all'})", "", to_markdown(main_table)]
    if {"source", "degradation", "level"} <= set(table.columns):
        lad = side_by_side({n: ladder_srcc(d) for n, d in preds.items()}, "degradation", "ladder_SRCC")
        parts += ["", "## Within-face ladder SRCC per degradation type", "", to_markdown(lad)]
    sub = stacked({n: subgroup_metrics(d) for n, d in preds.items()})
    if len(sub):
        parts += ["", "## Per subgroup", "", to_markdown(sub)]
    (out / "comparison.md").write_text("\n".join(parts) + "\n")
    main_table.to_csv(out / "comparison.csv", index=False)
    print("\n".join(parts))
    return main_table


def _cmd_studio(args) -> int:
    cmd = [sys.executable, "-m", "studio", "--host", args.host, "--port", str(args.port)]
    if args.share:
        cmd.append("--share")
    return subprocess.call(cmd)


def _cmd_explore(args) -> int:
    script = Path(__file__).resolve().parents[1] / "studio" / "explore.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(args.port), "--server.address", args.host,
           "--browser.gatherUsageStats", "false", "--"]
    for flag in ("stats", "predictions", "table", "scores", "dataset", "root"):
        if getattr(args, flag):
            cmd += [f"--{flag}", getattr(args, flag)]
    if os.name == "posix":  # become the server: a supervisor's SIGTERM reaches streamlit itself, no orphan is left
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, cmd)
    return subprocess.call(cmd)


def _rate_identity(src: str, mode: str) -> str:
    return Path(src).parent.name if mode == "folder" else Path(src).stem


def _cmd_rate_items(args) -> int:
    import glob  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    from .data.ratings import build_items  # noqa: PLC0415

    root, rows = Path(args.data_root), []
    for spec in args.source:  # NAME=GLOB[@N][,aligned][,folder]
        name, _, rest = spec.partition("=")
        opts = rest.split(",")
        pattern, _, n = opts[0].partition("@")
        files = sorted(str(Path(p).relative_to(root)) for p in glob.glob(str(root / pattern), recursive=True) if Path(p).is_file())
        if not files:
            raise FaceIQAError(f"--source {spec}: no files match {root / pattern}")
        if n:
            files = sorted(np.random.default_rng(args.seed).permutation(files)[: int(n)].tolist())
        ident = "folder" if "folder" in opts[1:] else "file"
        rows += [(f, name, "aligned" in opts[1:], ident) for f in files]
    modes = {f: m for f, _, _, m in rows}
    items = build_items([r[:3] for r in rows], root, args.dir, identity_of=lambda s, d: f"{d}/{_rate_identity(s, modes[s])}")
    print(f"{len(items)} items ({len(rows) - len(items)} without a usable face) -> {Path(args.dir) / 'items.csv'}; "
          f"splits {items['split'].value_counts().to_dict()}")
    return 0


def _cmd_rate_sheet(args) -> int:
    import json  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    from .data.ratings import contact_sheet, materialise, next_sheet, read_items  # noqa: PLC0415

    items = next_sheet(args.dir, args.rater, args.per_sheet, args.pass_, args.retest, args.seed)
    if not items:
        print(f"{args.rater}: nothing left to rate in pass {args.pass_}")
        return 0
    all_items = read_items(args.dir)
    paths = materialise(args.dir, args.data_root, all_items[all_items["item"].isin(items)], progress=False)
    out = Path(args.dir) / "sheets"
    out.mkdir(exist_ok=True)
    stem = out / f"{args.rater}-p{args.pass_}-{'-'.join(i[:4] for i in items[:2])}"
    Image.fromarray(contact_sheet([paths[i] for i in items], tile=args.tile, cols=args.cols)).save(f"{stem}.png")
    Path(f"{stem}.json").write_text(json.dumps({"rater": args.rater, "pass": args.pass_, "items": items}, indent=1))
    print(f"{stem}.png ({len(items)} faces); answer with: faceiqa rate record {args.dir} {stem}.json \"1-5 per face, half steps ok\"")
    return 0


def _cmd_rate_record(args) -> int:
    import json  # noqa: PLC0415

    from .data.ratings import RatingStore, parse_answers  # noqa: PLC0415

    sheet = json.loads(Path(args.sheet).read_text())
    vals = parse_answers(args.answers, len(sheet["items"]))
    n = RatingStore(args.dir).add({"rater": sheet["rater"], "item": i, "rating": v, "pass": sheet["pass"], "sheet": Path(args.sheet).stem,
                                   "method": "contact sheet"} for i, v in zip(sheet["items"], vals))
    print(f"{n} ratings recorded for {sheet['rater']} (pass {sheet['pass']})")
    return 0


def _cmd_rate_export(args) -> int:
    import json  # noqa: PLC0415

    from .data.ratings import RatingStore, labels, test_retest  # noqa: PLC0415

    df = labels(args.dir, args.data_root)
    df.to_parquet(args.out) if args.out.endswith(".parquet") else df.to_csv(args.out, index=False)
    rr = test_retest(RatingStore(args.dir).load())
    print(f"{len(df)} rated faces -> {args.out}; splits {df['split'].value_counts().to_dict()}; test-retest {json.dumps(rr)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faceiqa", description="Face image quality assessment, offline.")
    p.add_argument("-v", "--verbose", action="store_true", help="log warnings and info")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("score", help="score every face in images or folders into a CSV/Parquet table (resumable)")
    s.add_argument("paths", nargs="+", help="image files and/or folders (searched recursively)")
    s.add_argument("--model", default="mobile-fiqa", help="registry name (see `faceiqa models`); default: core.DEFAULT_MODEL")
    s.add_argument("--weights", default=None, help="a .safetensors checkpoint (with its .json) for the model")
    s.add_argument("--out", default="scores.csv", help="output .csv or .parquet (re-running resumes it)")
    s.add_argument("--faces", choices=("all", "largest"), default="all")
    s.add_argument("--aligned", action="store_true", help="inputs are aligned face crops: skip detection")
    s.add_argument("--detector", choices=("hog", "cnn", "robust"), default="hog")
    s.add_argument("--fallback", choices=("robust", "none"), default="robust",
                   help="detector to try when the first finds no face (default: the degradation-robust CNN)")
    s.add_argument("--landmarker", choices=("dlib", "fan"), default="dlib")
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    s.add_argument("--max-pixels", type=int, default=None, help="refuse larger images (decompression-bomb guard)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_score)

    m = sub.add_parser("models", help="list the registered models")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_cmd_models)

    d = sub.add_parser("data", help="build proxy benchmarks and audit datasets")
    dsub = d.add_subparsers(dest="data_command", required=True)
    b = dsub.add_parser("build", help="GFIQA-style dataset (aligned 512 crops + pseudo-MOS) from real face photos")
    b.add_argument("src", nargs="+", help="folder(s) of photos; identity = parent folder name (lfw/images), or the file "
                   "name in a flat folder (utkface/images)")
    b.add_argument("--out", required=True)
    b.add_argument("--per-source", type=int, default=4, help="degraded copies per face")
    b.add_argument("--compose-prob", type=float, default=0.25, help="share of copies with 2-3 chained degradations")
    b.add_argument("--photo-prob", type=float, default=0.5,
                   help="share of copies degraded on the whole photo before alignment (the rest: on the aligned crop)")
    b.add_argument("--max-sources", default=None, help="faces to use: one number, or one per source folder (300,100,40)")
    b.add_argument("--source-weight", type=float, default=0.5,
                   help="share of each label scaled by the clean crop's absolute sharpness (Crete blur); 0 = relative labels only")
    b.add_argument("--type-weights", default=None, metavar="TYPE=W,...",
                   help="relative odds of degradation types in single-degradation copies, others 1 (e.g. jpeg=3,webp=2)")
    b.add_argument("--extra-types", default=None, metavar="TYPE,...",
                   help="add opt-in degradation types to the 15 defaults (old_print: an aged print, scanned; realistic: Real-ESRGAN second-order chain at real face sizes)")
    b.add_argument("--max-per-identity", type=int, default=2, help="photos per person (0: all)")
    b.add_argument("--ladder", default=None, help="also write every face at levels 0..5 of this degradation")
    b.add_argument("--format", choices=("png", "jpg"), default="png")
    b.add_argument("--size", type=int, default=512, help="aligned crop side (GFIQA: 512)")
    b.add_argument("--identities", choices=("all", "train", "heldout"), default="all",
                   help="use only the training or the held-out part of an identity split of the source (see --holdout)")
    b.add_argument("--holdout", type=float, default=0.2, help="held-out share of identities for --identities")
    b.add_argument("--split-seed", type=int, default=0, help="seed of that identity split (the shipped models use 0)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("-q", "--quiet", action="store_true")
    b.set_defaults(func=_cmd_data_build)
    a = dsub.add_parser("stats", help="per-image statistics, skin tone, gender, identity/duplicate groups")
    a.add_argument("dataset", help="folder, CSV/Parquet table, or gfiqa-20k | cgfiqa-40k | piq23 with --root")
    a.add_argument("--root", default=None)
    a.add_argument("--out", default="stats.parquet", help=".parquet or .csv per-image table")
    a.add_argument("--cache", default=None, help="resumable analysis cache (default: <out>.cache)")
    a.add_argument("--aligned", action="store_true", help="images are aligned face crops")
    a.add_argument("--workers", type=int, default=1)
    a.add_argument("-q", "--quiet", action="store_true")
    a.set_defaults(func=_cmd_data_stats)

    t = sub.add_parser("train", help="train a model")
    tsub = t.add_subparsers(dest="train_command", required=True)
    r = tsub.add_parser("robust-face", help="teacher-student training of the degradation-robust face detector")
    r.add_argument("photos", help="folder of clean photos (dlib labels them: the teacher)")
    r.add_argument("--out", default="robust-face.safetensors")
    r.add_argument("--config", default=None, help="YAML with TrainConfig fields (and a 'model:' block of RobustConfig)")
    r.add_argument("--minutes", type=float, default=None)
    r.add_argument("--steps", type=int, default=None, help="train exactly this many steps instead of --minutes (reproducible)")
    r.add_argument("--batch", type=int, default=None)
    r.add_argument("--max-photos", type=int, default=None)
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--teacher-cache", default=None, help="Parquet of teacher labels (default: beside --out)")
    r.add_argument("--holdout", type=float, default=0.2,
                   help="share of identities (parent folder names) held out for evaluation; 0 uses every photo")
    r.add_argument("--split-seed", type=int, default=0, help="seed of the identity split (benchmarks use 0)")
    r.set_defaults(func=_cmd_train_robust)

    m = tsub.add_parser("model", help="train a seed model on a labels table (e.g. from `faceiqa data build`)")
    m.add_argument("name", nargs="?", choices=("stylegan-iqa", "dsl-fiqa", "resnet50-iqa", "ifqa"))
    m.add_argument("--config", default=None, help="run file: configs/train/<model>/<dataset>.yaml (model, dataset, preset, overrides)")
    m.add_argument("--labels", default=None, help="CSV/Parquet with image (or path), mos, split [, source, degradation]")
    m.add_argument("--root", default=None, help="folder the image paths are relative to (default: the labels' folder)")
    m.add_argument("--preset", choices=("paper", "lite"), default="lite")
    m.add_argument("--out", required=True, help="run folder: best .safetensors, metrics.csv, last.* (a rerun resumes it with the same settings and data; only a larger --epochs may differ)")
    m.add_argument("--epochs", type=int, default=None)
    m.add_argument("--batch", type=int, default=None)
    m.add_argument("--seed", type=int, default=None)
    m.add_argument("--reals", default=None, help="ifqa: labels of extra clean faces for D (`faceiqa data build --per-source 0`), "
                   "used when the config sets extra_reals")
    m.set_defaults(func=_cmd_train_model)

    mf = tsub.add_parser("mobile-fiqa", help="the default model: frozen ImageNet features, heads fitted to synthetic "
                         "labels and human ratings, chosen on both validation splits, calibrated to people")
    mf.add_argument("--build", required=True, help="labels.csv of a `faceiqa data build` (its val people: synthetic validation)")
    mf.add_argument("--ratings", required=True, help="rating set folder (ratings/real-faces): train / val / test faces")
    mf.add_argument("--data-root", default=None, help="where the rated photos live (to make missing crops)")
    mf.add_argument("--config", default=None, help="recipe YAML (configs/train/mobile-fiqa/default.yaml)")
    mf.add_argument("--out", required=True, help=".safetensors to write (+ .json, .selection.csv)")
    mf.add_argument("--work", default=None, help="feature cache folder (default: beside --out); a rerun reuses it")
    mf.add_argument("-q", "--quiet", action="store_true")
    mf.set_defaults(func=_cmd_train_mobile)

    dl = tsub.add_parser("distil-labels", help="a student's labels table: a teacher's scores on a build's faces + the rated "
                         "faces (train: their MOS; val / test: people choose and judge the student)")
    dl.add_argument("--build", required=True, help="labels.csv of a `faceiqa data build` (512 crops)")
    dl.add_argument("--ratings", required=True, help="rating set folder (ratings/real-faces)")
    dl.add_argument("--data-root", default=None, help="where the rated photos live (to make missing crops)")
    dl.add_argument("--teacher", default="mobile-fiqa", help="registered model whose scores become the labels")
    dl.add_argument("--teacher-weights", default=None, help="its checkpoint (default: the shipped weights)")
    dl.add_argument("--human-repeat", type=int, default=3, help="copies of each rated train face in the table")
    dl.add_argument("--out", required=True, help="labels CSV for `faceiqa train model --labels`")
    dl.add_argument("-q", "--quiet", action="store_true")
    dl.set_defaults(func=_cmd_train_distil)

    q = tsub.add_parser("tinyfqnet", help="recognition-oriented labels (Eq. 1, dlib) + tinyFQnet training on identity folders")
    q.add_argument("photos", help="folder of identity folders (LFW layout)")
    q.add_argument("--out", required=True, help="run folder: labels.parquet and damage_pairs.parquet (each with its "
                   "settings .json), pretrained / last / best .safetensors; re-running resumes (a stage table or pre-training "
                   "made with other settings is refused, and so is the training's last.* - only a larger --epochs may differ)")
    q.add_argument("--preset", choices=("paper", "lite", "smoke"), default="paper")
    q.add_argument("--config", default=None, help="run file (configs/train/tinyfqnet/lfw.yaml): preset + overrides")
    q.add_argument("--epochs", type=int, default=None)
    q.add_argument("--variants", type=int, default=None, help="degraded copies per photo (default: the config's, else 3)")
    q.add_argument("--min-images", type=int, default=None, help="skip people with fewer photos (default: config, else 10)")
    q.add_argument("--max-per-identity", type=int, default=None, help="photos per person (default: config, else 10)")
    q.add_argument("--holdout", type=float, default=0.2, help="share of identities kept out entirely (test)")
    q.add_argument("--val", type=float, default=0.1, help="share of identities for model selection")
    q.add_argument("--split-seed", type=int, default=0)
    q.add_argument("--workers", type=int, default=2)
    q.set_defaults(func=_cmd_train_tinyfqnet)

    d = tsub.add_parser("defaults", help="rebuild, retrain and re-evaluate the shipped default weights (a release recipe)")
    d.add_argument("--work", required=True, help="work folder: builds, runs (a rerun skips finished steps)")
    d.add_argument("--recipe", default="configs/release/defaults.yaml", help="release recipe (configs/release/*.yaml)")
    d.add_argument("--data", default=os.environ.get("FACEIQA_DATA", "../shared/data"), help="folder of the recipe's sources")
    d.add_argument("--models", nargs="+", default=None, help="models to run (default: the recipe's)")
    d.add_argument("--results", default=None, help="held-out metrics go here (default: benchmarks/results/defaults)")
    d.add_argument("--ship", action="store_true", help="write the float16 checkpoints and cards into core/assets")
    d.add_argument("--seeds", nargs="*", type=int, default=[], metavar="SEED",
                   help="extra training runs with these seeds (the shipped run is seed 0): results/seeds.csv with medians")
    d.set_defaults(func=_cmd_train_defaults)

    e = sub.add_parser("evaluate", help="SRCC / KRCC / PLCC / RMSE of a model on a labels table, plus a predictions CSV")
    e.add_argument("name")
    e.add_argument("--labels", required=True)
    e.add_argument("--root", default=None)
    e.add_argument("--split", default="test", help="rows of this split ('' for all)")
    e.add_argument("--weights", default=None)
    e.add_argument("--device", default=None)
    e.add_argument("--out", default="predictions.csv")
    e.add_argument("--metrics", default=None, help="also write SRCC/KRCC/PLCC/RMSE as JSON here")
    e.set_defaults(func=_cmd_evaluate)

    c = sub.add_parser("compare", help="all given models on one labels table: SRCC/PLCC/RMSE, ladder SRCC, subgroups (Markdown + CSV)")
    c.add_argument("--labels", required=True, nargs="+",
                   help="one labels table, or several (one per dataset: a DSL-FIQA Table 2 shaped summary across them)")
    c.add_argument("--root", default=None)
    c.add_argument("--split", default="test")
    c.add_argument("--models", nargs="+", default=["perceptual-combined", "perceptual-blur", "perceptual-jpeg", "perceptual-pose"])
    c.add_argument("--weights", nargs="*", default=[], help="NAME=checkpoint.safetensors for models without shipped weights")
    c.add_argument("--device", default=None)
    c.add_argument("--out", default="comparison")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=_cmd_compare)

    ra = sub.add_parser("rate", help="human ratings: items to rate, contact sheets, record answers, export MOS labels")
    rsub = ra.add_subparsers(dest="rate_command", required=True)
    ri = rsub.add_parser("items", help="an items table (largest face of each photo, identity-disjoint splits)")
    ri.add_argument("dir", help="rating set folder (items.csv, ratings.jsonl, faces/)")
    ri.add_argument("--data-root", required=True, help="folder the sources are relative to")
    ri.add_argument("--source", action="append", required=True,
                    help="NAME=GLOB[@N][,aligned][,folder]: N random files of the glob; aligned = already a face crop; folder = identity is the parent folder")
    ri.add_argument("--seed", type=int, default=0)
    ri.set_defaults(func=_cmd_rate_items)
    rs = rsub.add_parser("sheet", help="the next numbered contact sheet of faces this rater has not rated (PNG + JSON)")
    rs.add_argument("dir")
    rs.add_argument("--rater", required=True)
    rs.add_argument("--data-root", required=True)
    rs.add_argument("--pass", dest="pass_", type=int, default=1, choices=(1, 2), help="2: the test-retest repeat")
    rs.add_argument("--retest", type=int, default=60, help="items repeated in pass 2")
    rs.add_argument("--per-sheet", type=int, default=12)
    rs.add_argument("--tile", type=int, default=320)
    rs.add_argument("--cols", type=int, default=4)
    rs.add_argument("--seed", type=int, default=0)
    rs.set_defaults(func=_cmd_rate_sheet)
    rr = rsub.add_parser("record", help="record the answers to a sheet (re-recording replaces, never duplicates)")
    rr.add_argument("dir")
    rr.add_argument("sheet", help="the sheet's .json")
    rr.add_argument("answers", help='"4 3.5 2 ..." or "1:4 2:3.5 ..." (1 Bad, 2 Poor, 3 Fair, 4 Good, 5 Excellent)')
    rr.set_defaults(func=_cmd_rate_record)
    re_ = rsub.add_parser("export", help="MOS labels table (aligned crops + mos + ci95 + split) for train / evaluate / compare")
    re_.add_argument("dir")
    re_.add_argument("--data-root", required=True)
    re_.add_argument("--out", required=True)
    re_.set_defaults(func=_cmd_rate_export)

    st = sub.add_parser("studio", help="start the Gradio upload-and-score app")
    st.add_argument("--host", default="127.0.0.1")
    st.add_argument("--port", type=int, default=7860)
    st.add_argument("--share", action="store_true")
    st.set_defaults(func=_cmd_studio)

    x = sub.add_parser("explore", help="start the Streamlit analysis app (explorer, embeddings, failures, fairness, frames)")
    x.add_argument("--host", default="127.0.0.1")
    x.add_argument("--port", type=int, default=8501)
    x.add_argument("--stats", default=None, help="per-image table from `faceiqa data stats`")
    x.add_argument("--dataset", default=None, help="or a dataset to analyse in the app (folder, table, gfiqa-20k ...)")
    x.add_argument("--root", default=None)
    x.add_argument("--predictions", default=None, help="predictions file from `faceiqa evaluate` / `compare`")
    x.add_argument("--table", default=None, help="labels table whose faces the embeddings page maps")
    x.add_argument("--scores", default=None, help="scores table from `faceiqa score`")
    x.set_defaults(func=_cmd_explore)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except FaceIQAError as exc:
        print(f"faceiqa {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
