"""Helpers shared by scripts/summarize_experiments.py and scripts/summarize_adult.py."""
import os
import statistics


def load_times(path):
    """run name -> wall-clock seconds, from a times.tsv written by the run scripts."""
    times = {}
    if os.path.exists(path):
        for line in open(path):
            name, secs = line.split()
            times[name] = float(secs)
    return times


def ms(values, digits=2):
    """'mean ± sample std' (or the one value)."""
    if len(values) == 1:
        return f'{values[0]:.{digits}f}'
    return f'{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}'


def metric_cells(rows, times):
    """'NME | FR@0.10 | AUC@0.10 | wall-clock |' cells over seeds from eval rows and run times."""
    return (f"{ms([r['nme'] for r in rows])} | {ms([r['fr_010'] for r in rows])} | "
            f"{ms([r['auc'] for r in rows], 4)} | {ms(times, 0) if times else '-'} |")
