"""The lean design's false-positive rate and power against the fixed-n test, simulated
(greenhp.lean.error_rate; docs/lean.md "What it can get wrong").

    PYTHONPATH=src python bench/lean_error.py [--repetitions 5] [--n-sim 40000]

Prints a Markdown table: per test, first wave and p band, the share of comparisons called different at
alpha under the null (effect 0) and under shifts of 0.5, 1 and 2 sd, lean and fixed-n, and the share of
groups extended under the null (two comparisons per group, energy and task metric, as the study).
"""
import argparse

from greenhp.lean.error_rate import simulate

BANDS = [(0.02, 0.3), (0.01, 0.3), (0.01, 0.2), (0.005, 0.3), (0.01, 0.5)]
EFFECTS = [0.0, 0.5, 1.0, 2.0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--n-sim", type=int, default=40000)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    head = " | ".join(f"d={e:g} lean / fixed" for e in EFFECTS)
    print(f"| test | first wave | p band | {head} | extended (null) | mutant runs (null) |")
    print("|---|---|---|" + "---|" * len(EFFECTS) + "---|---|")
    for test in ("welch", "student"):
        for first_wave in (2, 3):
            for band in BANDS:
                rates = [simulate(first_wave, args.repetitions, band, e, args.alpha, args.n_sim, seed=0, test=test)
                         for e in EFFECTS]
                cells = " | ".join(f"{r.rate_lean:.3f} / {r.rate_fixed:.3f}" for r in rates)
                print(f"| {test} | {first_wave} | [{band[0]:g}, {band[1]:g}) | {cells} | "
                      f"{rates[0].extended:.2f} | {rates[0].mutant_runs:.2f} |")


if __name__ == "__main__":
    main()
