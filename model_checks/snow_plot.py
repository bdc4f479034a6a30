"""The picture of metastability: per round, the share of correct nodes on each colour, every seed.

Each run of ``snow_sim`` records, after every round, the fraction of correct nodes answering
colour 1 (their decision if decided, else their preference). Drawn for every seed, the lines
start at the initial split, hover around it while the network is balanced, and then tip to one
side and run to 0 or 1: the metastable tipping the paper describes (Team Rocket,
arXiv:1906.08936, the discussion of Slush around Figure 1: a small random imbalance is amplified
by repeated sampling until the network settles on one colour). Runs that end in a conflicting
decision are drawn in a third colour.

matplotlib is imported here only, with the non-interactive Agg backend, so the simulator itself
does not need it.
"""

from __future__ import annotations

from pathlib import Path

from .snow_sim import SimulationReport

COLOUR_1 = "#1f5fbf"  # runs that ended on colour 1 (blue)
COLOUR_0 = "#c0392b"  # runs that ended on colour 0 (red)
CONFLICT = "#8e44ad"  # runs with a conflicting decision


def plot_runs(report: SimulationReport, path: Path, max_lines: int = 400) -> Path:
    """Write a PNG of ``report``'s per-round colour fractions to ``path`` and return it.

    Top panel: colour 1's share per run (at most ``max_lines`` runs drawn; the black line is the
    mean over all runs, a finished run counted at its final value); bottom panel: colour 0's
    share (1 − the top). Raises ``ValueError`` when the report has no runs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not report.runs:
        raise ValueError("the report has no runs to plot")
    p = report.params
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6.5))
    longest = max(len(run.ones_fraction) for run in report.runs)
    sums = [0.0] * longest
    for index, run in enumerate(report.runs):
        fractions = run.ones_fraction
        # a finished run keeps its last value, so the mean is over every seed at every round
        for r in range(longest):
            sums[r] += fractions[min(r, len(fractions) - 1)]
        if index >= max_lines:
            continue
        if run.conflict and p.protocol != "slush":
            colour = CONFLICT
        else:
            colour = COLOUR_1 if fractions[-1] >= 0.5 else COLOUR_0
        rounds = range(len(fractions))
        top.plot(rounds, fractions, color=colour, alpha=0.35, linewidth=0.8)
        bottom.plot(rounds, [1 - f for f in fractions], color=colour, alpha=0.35, linewidth=0.8)
    mean = [total / len(report.runs) for total in sums]
    top.plot(range(longest), mean, color="black", linewidth=1.6, label="mean over seeds")
    bottom.plot(range(longest), [1 - m for m in mean], color="black", linewidth=1.6)
    for axis, colour_name in ((top, "colour 1 (blue)"), (bottom, "colour 0 (red)")):
        axis.set_ylim(-0.02, 1.02)
        axis.axhline(0.5, color="grey", linewidth=0.6, linestyle="--")
        axis.set_ylabel(f"share preferring\n{colour_name}")
        axis.grid(alpha=0.25)
    bottom.set_xlabel("round")
    top.legend(loc="upper right", fontsize=8)
    top.set_title(
        f"{p.protocol}: n={p.nodes} (byzantine {p.byzantine}, {p.adversary}), k={p.k}, "
        f"αp={p.alpha_p}, αc={p.alpha_c}, β={p.beta}; {len(report.runs)} seeds, "
        f"conflicts {report.conflicts}",
        fontsize=9,
    )
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png", dpi=110)
    plt.close(figure)
    return path
