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
    """[NME, FR@0.10, AUC@0.10, wall-clock] cells over seeds from eval rows and run times."""
    return [ms([r['nme'] for r in rows]), ms([r['fr_010'] for r in rows]), ms([r['auc'] for r in rows], 4),
            ms(times, 0) if times else '-']


def table(header, rows):
    """Print a markdown table: the header cells, then one list of cells per row."""
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    for cells in rows:
        print('| ' + ' | '.join(cells) + ' |')


def seed_times(rs):
    """The wall-clock times of a config's runs (the 4th item of each run tuple), where known."""
    return [r[3] for r in rs if r[3] is not None]
