"""Write a model card (Markdown) for a shipped emotion model from what was measured, never by hand.

    python -m moodlens_train.card RUN_DIR MODEL.onnx EVAL.json OUT.md [--eval-tta EVAL_TTA.json]
        [--ablation NAME=RUN_DIR ...] [--command "the training command"]
    python -m moodlens_train.card averaged MODEL.onnx EVAL.json OUT.md --json-out OUT.json [--command "..."]

The second form is for a graph made by `export --member ... --flip-average` (members and parameters from its
ONNX metadata).

RUN_DIR is the training run folder (run.json, log.csv); EVAL.json is `moodlens evaluate --json` output for
the ONNX model on PublicTest (Node, the same code path as `moodlens analyze`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

from . import LABELS


def _log(run: Path) -> list[dict[str, float]]:
    with open(run / "log.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _percent(x: float) -> str:
    return f"{100 * x:.2f}%"


def _class_tables(evaluation: dict) -> list[str]:
    """The per-class table and the confusion matrix of a `moodlens evaluate --json` result."""
    lines = [
        "## Per-class results (PublicTest)",
        "",
        "| emotion | precision | recall | F1 | faces |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in LABELS:
        c = evaluation["perClass"][name]
        lines.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['n']} |")
    lines += [
        "",
        "Confusion matrix (rows: true label, columns: predicted):",
        "",
        "| true \\ predicted | " + " | ".join(LABELS) + " |",
        "| --- |" + " ---: |" * len(LABELS),
    ]
    for name, row in zip(evaluation["labels"], evaluation["confusion"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return lines


def _training_text(args: dict, info: dict) -> list[str]:
    """The optimisation paragraph of a card, from the run's flags (run.json); older runs lack the newer flags."""
    if args.get("schedule", "plateau") == "cosine":
        schedule = (f"cosine decay of the rate per step to {args['min_lr']} over {args['epochs']} epochs"
                    + (f" after {args['warmup']} warm-up epochs" if args.get("warmup") else ""))
    else:
        schedule = f"ReduceLROnPlateau (factor {args['lr_factor']}, patience {args['lr_patience']})"
    stop = f"early stopping (patience {args['patience']})" if args["patience"] else "no early stopping"
    lines = [
        f"Adam (lr {args['lr']}), cross-entropy with label smoothing {args['label_smoothing']}, batch {args['batch_size']},",
        f"weight decay {args['weight_decay']} on conv weights; augmentation: rotation ±{args['rotation']}°, shifts",
        f"{args['shift']}, zoom {args['zoom']}, horizontal flips, random erasing p={args['erase']}; {schedule}",
        f"and {stop}, the best epoch kept by PublicTest accuracy; seed {args['seed']}; {info['device']} with",
        f"{info['threads']} threads, torch {info['torch']}.",
    ]
    if args.get("init"):
        lines += ["", f"Started from the weights of `{args['init']}` (fine-tuning: a fresh optimiser and schedule)."]
    if args.get("teacher"):
        names = ", ".join(f"`{t}`" for t in args["teacher"])
        seen = ("Offline (`--teacher-logits`): each teacher saw every unaugmented training face and its mirror "
                "image once; the cached logits, averaged, served whatever augmentation the model saw. The loss is"
                if args.get("teacher_logits") else
                "Each teacher sees the augmented batch and its mirror image; their logits are averaged; the loss is")
        lines += [
            "",
            f"Knowledge distillation from {len(args['teacher'])} teacher(s): {names}. {seen}",
            f"{1 - args['kd_weight']:g} x cross-entropy + {args['kd_weight']:g} x T^2 KL(teacher_T || model_T), "
            f"T = {args['kd_temperature']:g}.",
        ]
    return lines


def render(
    run: Path,
    model: Path,
    evaluation: dict,
    tta: dict | None,
    ablations: dict[str, Path],
    command: str,
    ablation_epochs: int | None = None,
) -> str:
    info = json.loads((run / "run.json").read_text())
    log = _log(run)
    best = max(log, key=lambda r: r["val_acc"])
    args = info["args"]
    lines = [
        "# Emotion model card: `emotion.onnx`",
        "",
        "A FER-2013 facial-expression classifier for MoodLens. **A screening aid, never a diagnosis.**",
        "",
        "## Summary",
        "",
        "| | |",
        "| --- | --- |",
        f"| architecture | `{info['config']['arch']}` {json.dumps(info['config'])} |",
        f"| parameters | {info['params']:,} |",
        f"| compute | {info['mflops']:.1f} MFLOPs per 48x48 face |",
        f"| ONNX file | {model.stat().st_size:,} bytes, opset 13, BatchNorm folded{_storage(_metadata(model))} |",
        f"| input | `input` float32 [N,1,48,48], scaling `{args['scaling']}` |",
        "| output | `logits` float32 [N,7] (softmax applied by MoodLens) |",
        f"| classes | {', '.join(f'{i} {name}' for i, name in enumerate(LABELS))} |",
        f"| epochs trained | {len(log)}{' of fine-tuning from `--init` (see Training)' if args.get('init') else ''} "
        f"(best PublicTest epoch {int(best['epoch'])}) |",
        f"| **PublicTest accuracy** | **{_percent(evaluation['accuracy'])}** ({evaluation['n']} faces, measured in Node) |",
    ]
    if tta:
        lines.append(f"| with `--flip-tta` | {_percent(tta['accuracy'])} |")
    lines += [
        "",
        "## Data and split",
        "",
        "FER-2013 (Goodfellow et al., 2013) in its image-folder form: the 28,709 Training faces for training, the",
        "3,589 PublicTest faces for validation, model selection and the figures here. PrivateTest is held out and",
        "was not used. These images are histogram-equalized one by one by their publisher; MoodLens equalizes",
        "every face again at training and inference (`equalizeHist`, bit-exact with OpenCV).",
        "",
        "## Preprocessing (identical in training and inference)",
        "",
        "Gray; the face crop resized to 48x48 (FER faces are 48x48 already); per-face histogram equalization;",
        "float32 pixels / 255 in [0, 1] (`moodlens.scaling` = `v1` in the ONNX metadata, which MoodLens reads).",
        "In `moodlens analyze` the crop is the Haar box itself (margin 0: measured best, see README).",
        "",
        "## Training",
        "",
        *_training_text(args, info),
        "",
        "```sh",
        command,
        "```",
        "",
        *_class_tables(evaluation),
    ]
    lines += ["", "## Ablation", ""]
    if ablations:
        if ablation_epochs:
            lines += [f"Both trained by the same pipeline and flags, compared over their first {ablation_epochs} epochs.", ""]
        lines += [
            "| model | parameters | MFLOPs | epochs | best PublicTest accuracy (PyTorch) | at epoch |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, path in ablations.items():
            other = _log(path)
            if ablation_epochs:
                other = [r for r in other if r["epoch"] <= ablation_epochs]
            top = max(other, key=lambda r: r["val_acc"])
            meta = json.loads((path / "run.json").read_text())
            lines.append(
                f"| {name} | {meta['params']:,} | {meta['mflops']:.1f} | {len(other)} | {_percent(top['val_acc'])} "
                f"| {int(top['epoch'])} |"
            )
    else:
        lines.append("Not measured yet (see the issue note).")
    lines += [
        "",
        "## Limits",
        "",
        "- The published paper claims over 95% accuracy; on FER-2013 the best single published models reach",
        "  72-74%, and human agreement on its labels is about 65%. We report only what we measure.",
        "- Weakest classes: see the table (disgust has 56 PublicTest faces; fear is often confused with sad",
        "  and surprise). Expressions are posed or in-the-wild web faces, mostly frontal, unbalanced by age and",
        "  ethnicity in ways the data set does not document.",
        "- Never use it alone to judge a person's mental health.",
        "",
    ]
    return "\n".join(lines)


def _metadata(model: Path) -> dict:
    import onnx

    return {p.key: p.value for p in onnx.load(str(model)).metadata_props}


def _storage(meta: dict) -> str:
    """How the file stores its weights, when not plainly as float32 (``export --half-weights``)."""
    return ", weights stored as float16 (computed in float32)" if "moodlens.weights" in meta else ""


def render_averaged(model: Path, evaluation: dict, command: str) -> tuple[str, dict]:
    """(Markdown card, JSON card) of an averaged-logits model, from its ONNX metadata and its evaluation."""
    meta = _metadata(model)
    config = json.loads(meta["moodlens.config"])
    members = config["members"]
    flip = bool(config.get("flip_average"))
    zooms = [float(z) for z in config.get("zooms", [1.0])]
    views = len(zooms) * (2 if flip else 1)
    view_words = "face and mirror" if flip else "face"
    if len(zooms) > 1:
        view_words += f" at {len(zooms)} magnifications ({', '.join(f'x{z:g}' for z in zooms)})"
    params = int(meta["moodlens.params"])
    lines = [
        f"# Emotion model card: `{model.name}`",
        "",
        ("The mean of several trained MoodLens emotion classifiers" if len(members) > 1
         else "A trained MoodLens emotion classifier averaged over test-time views")
        + (", each also run on the mirrored face" if flip else "")
        + (f" and on the face magnified by {', '.join(f'x{z:g}' for z in zooms if z != 1.0)} about its centre"
           if len(zooms) > 1 else "")
        + ", as one ONNX graph: the accurate choice (`--model`) beside the fast default `emotion.onnx`.",
        "**A screening aid, never a diagnosis.**",
        "",
        "## Summary",
        "",
        "| | |",
        "| --- | --- |",
        f"| members | {len(members)}: " + "; ".join(
            f"`{m['arch']}` epoch {m.get('epoch')} (PublicTest {_percent(float(m.get('val_acc') or 0))} alone)"
            for m in members) + " |",
        f"| passes per face | {len(members) * views} (members x {view_words}) |",
        f"| parameters | {params:,} |",
        f"| ONNX file | {model.stat().st_size:,} bytes, opset 13, BatchNorm folded{_storage(meta)} |",
        f"| input | `input` float32 [N,1,48,48], scaling `{meta['moodlens.scaling']}` (as every member) |",
        "| output | `logits` float32 [N,7]: the members' mean logits (softmax applied by MoodLens) |",
        f"| **PublicTest accuracy** | **{_percent(evaluation['accuracy'])}** ({evaluation['n']} faces, measured in Node) |",
        "",
        "Data, split and preprocessing: as `emotion.md` (every member was trained by",
        "`moodlens_train.train` on the 28,709 Training faces and selected on PublicTest; PrivateTest unused).",
        "",
        "```sh",
        command,
        "```",
        "",
        *_class_tables(evaluation),
        "",
        "## Limits",
        "",
        f"- {len(members) * views} classifier passes per face: slower than `emotion.onnx` (see `npm run bench`).",
        "- The published paper claims over 95% accuracy; the best single published models reach 72-74% on",
        "  FER-2013. We report only what we measure. Never use it alone to judge a person's mental health.",
        "",
    ]
    card = {
        "model": model.name,
        "card": model.with_suffix(".md").name,
        "arch": {"arch": config["arch"], "members": members, "flip_average": flip, "zooms": zooms},
        "parameters": params,
        "onnxBytes": model.stat().st_size,
        "publicTest": {"n": evaluation["n"], "accuracy": evaluation["accuracy"]},
        "perClass": evaluation["perClass"],
        "confusion": evaluation["confusion"],
        "command": command,
    }
    return "\n".join(lines), card


def averaged_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m moodlens_train.card averaged",
                                     description="Model card of an averaged-logits model (export --member).")
    parser.add_argument("model", type=Path)
    parser.add_argument("evaluation", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--json-out", type=Path, required=True)
    parser.add_argument("--command", default="python -m moodlens_train.export A.pt OUT.onnx --member B.pt --flip-average")
    a = parser.parse_args(argv)
    text, card = render_averaged(a.model, json.loads(a.evaluation.read_text()), a.command)
    a.json_out.write_text(json.dumps(card, indent=2) + "\n")
    a.out.write_text(text)
    print(f"wrote {a.out} and {a.json_out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["averaged"]:
        return averaged_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m moodlens_train.card", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("evaluation", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--eval-tta", type=Path)
    parser.add_argument("--ablation", action="append", default=[], metavar="NAME=RUN_DIR")
    parser.add_argument("--command", default="python -m moodlens_train.train ...")
    parser.add_argument("--ablation-epochs", type=int, help="compare the ablation runs over their first N epochs")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON (a machine-readable card)")
    a = parser.parse_args(argv)
    ablations = {}
    for item in a.ablation:
        name, _, path = item.partition("=")
        ablations[name] = Path(path)
    text = render(
        a.run,
        a.model,
        json.loads(a.evaluation.read_text()),
        json.loads(a.eval_tta.read_text()) if a.eval_tta else None,
        ablations,
        a.command,
        a.ablation_epochs,
    )
    if a.json_out:
        info = json.loads((a.run / "run.json").read_text())
        log = _log(a.run)
        best = max(log, key=lambda r: r["val_acc"])
        evaluation = json.loads(a.evaluation.read_text())
        card = {
            "model": a.model.name,
            "card": a.out.name,
            "arch": info["config"],
            "parameters": info["params"],
            "mflops": info["mflops"],
            "onnxBytes": a.model.stat().st_size,
            "epochs": len(log),
            "bestEpoch": int(best["epoch"]),
            "publicTest": {"n": evaluation["n"], "accuracy": evaluation["accuracy"]},
            "perClass": evaluation["perClass"],
            "confusion": evaluation["confusion"],
            "command": a.command,
        }
        if a.eval_tta:
            card["publicTestFlipTta"] = {"accuracy": json.loads(a.eval_tta.read_text())["accuracy"]}
        a.json_out.write_text(json.dumps(card, indent=2) + "\n")
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, a.out)
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
