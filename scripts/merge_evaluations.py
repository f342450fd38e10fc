"""Merge the tables of several ``usanimator evaluate`` runs on the same clips into one Markdown report.

    .venv/bin/python scripts/merge_evaluations.py eval/real-ptg eval/real-fomm > eval/real.md

Each run scores the identity baseline itself; the script checks that every run's identity row is the
same (the same clips, windows and sizes) and keeps it once, then lists every other method's means
and a per-clip reconstruction L1 table with the count of clips where a method beats identity.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

MEAN_COLUMNS = ("Recon L1", "Recon PSNR", "Recon SSIM", "Recon landmark_px", "Recon landmark_mm", "Recon FID", "Recon FID_CI",
                "Recon FVD", "Recon FVD_CI", "Recon AKD_px", "Predi FID", "Predi FID_CI", "Predi FVD", "Predi FVD_CI")


def read_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="evaluate --out folders")
    args = parser.parse_args()
    means: dict[str, dict] = {}
    per_clip: dict[str, dict[str, dict]] = {}
    for run in args.runs:
        for row in read_rows(run / "evaluation.csv"):
            name = row["Method"]
            if name == "identity" and name in means:
                same = all(means[name].get(c) == row.get(c) for c in ("Recon L1", "Recon PSNR", "Recon SSIM"))
                if not same:
                    raise SystemExit(f"{run}: its identity row differs from the first run's: not the same clips?")
                continue
            means[name] = row
        for row in read_rows(run / "evaluation_per_clip.csv"):
            per_clip.setdefault(row["method"], {})[row["clip"]] = row
    columns = [c for c in MEAN_COLUMNS if any(row.get(c) not in (None, "", "n/a") for row in means.values())]
    lines = ["| Method | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(row.get(c, "") for c in columns) + " |" for name, row in means.items()]
    identity = per_clip["identity"]
    methods = list(means)
    lines += ["", "Reconstruction L1 per clip (`<`: below identity's):", "",
              "| Clip | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for clip in identity:
        cells = []
        for name in methods:
            value = float(per_clip[name][clip]["L1"])
            better = name != "identity" and value < float(identity[clip]["L1"])
            cells.append(f"{value:.4f}" + (" <" if better else ""))
        lines.append(f"| {clip} | " + " | ".join(cells) + " |")
    wins = ["-" if name == "identity" else f"{sum(float(per_clip[name][c]['L1']) < float(identity[c]['L1']) for c in identity)}/{len(identity)}"
            for name in methods]
    lines.append("| beats identity | " + " | ".join(wins) + " |")
    ratios = [f"{float(means[name]['Recon L1']) / float(means['identity']['Recon L1']):.2f}" for name in methods]
    lines.append("| L1 / identity's | " + " | ".join(ratios) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
