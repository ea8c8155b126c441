//! Validation splits: by a committed id list, or a seeded random share.
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::{Error, Result};
use facealign_core::Dataset;

/// Split by a file of sample ids (one per line; `#` comments and blank lines ignored). Every listed
/// id must exist, so a typo cannot silently leak validation faces into training.
pub fn split_by_ids(ds: Dataset, list: &Path) -> Result<(Dataset, Dataset)> {
    let val = ds.indices_of_ids(list)?;
    let train: Vec<usize> = (0..ds.samples.len())
        .filter(|i| val.binary_search(i).is_err())
        .collect();
    if train.is_empty() || val.is_empty() {
        return Err(Error::Data(format!(
            "{}: the split leaves an empty train or validation set",
            list.display()
        )));
    }
    Ok((ds.subset_of(&train, "#train"), ds.subset_of(&val, "#val")))
}

/// `ds` without the samples listed in `list` (ids absent from `ds` are fine: the list may be a
/// split of another source holding the same faces).
pub fn exclude_ids(ds: Dataset, list: &Path) -> Result<Dataset> {
    let listed = ids_in(list)?;
    let keep: Vec<usize> = (0..ds.samples.len())
        .filter(|&i| !listed.contains(ds.samples[i].id.as_str()))
        .collect();
    if keep.is_empty() {
        return Err(Error::Data(format!(
            "{}: excluding the ids of {} leaves no sample",
            ds.source,
            list.display()
        )));
    }
    Ok(ds.subset_of(&keep, &format!("#-@{}", list.display())))
}

/// Keep the first `max` samples of `ds` (at least one) when the config's `max_samples` is set;
/// its subsets are dropped then (they would index past the kept samples).
pub fn truncated(ds: &mut Dataset, max: Option<usize>) {
    if let Some(max) = max {
        ds.samples.truncate(max.max(1));
        ds.subsets.clear();
    }
}

/// `ds` with its samples taken `times` times in a row (`times` ≤ 1: unchanged; the config's
/// `repeat` is at least 1, `TrainConfig::validate`). The copies keep their ids; each sits at its own
/// index, so the loader draws its augmentation separately. Subsets keep the last copy.
pub fn repeated(ds: Dataset, times: usize) -> Dataset {
    if times <= 1 {
        return ds;
    }
    let n = ds.samples.len();
    let keep: Vec<usize> = (0..times).flat_map(|_| 0..n).collect();
    ds.subset_of(&keep, &format!("×{times}"))
}

/// Split `ds` into (not listed, listed) by the ids of `list`, leniently: ids absent from `ds` are
/// fine, and the held-out side is `None` when no listed id is in `ds`.
pub fn hold_out_ids(ds: Dataset, list: &Path) -> Result<(Dataset, Option<Dataset>)> {
    let listed = ids_in(list)?;
    let (val, train): (Vec<usize>, Vec<usize>) =
        (0..ds.samples.len()).partition(|&i| listed.contains(ds.samples[i].id.as_str()));
    if train.is_empty() {
        return Err(Error::Data(format!(
            "{}: holding out the ids of {} leaves no training sample",
            ds.source,
            list.display()
        )));
    }
    let held = (!val.is_empty()).then(|| ds.subset_of(&val, "#val"));
    Ok((ds.subset_of(&train, "#train"), held))
}

fn ids_in(list: &Path) -> Result<std::collections::HashSet<String>> {
    let text = std::fs::read_to_string(list).map_err(|e| Error::io(list, e))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// A seeded random split holding out `fraction` of the samples (at least one).
pub fn split_train_val(ds: Dataset, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
    let n = ds.samples.len();
    if n < 2 {
        return Err(Error::Data(format!(
            "{}: need at least 2 samples to hold out validation",
            ds.source
        )));
    }
    let n_val = ((n as f64 * fraction).round() as usize).clamp(1, n - 1);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
        seed ^ 0x5EED_5EED,
    ));
    let mut val = idx[..n_val].to_vec();
    let mut train = idx[n_val..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    Ok((ds.subset_of(&train, "#train"), ds.subset_of(&val, "#val")))
}
