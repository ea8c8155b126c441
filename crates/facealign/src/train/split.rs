//! Validation splits: by a committed id list, or a seeded random share.
use std::collections::BTreeSet;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::{Error, Result};
use facealign_core::Dataset;

fn take(ds: &Dataset, keep: &[usize], suffix: &str) -> Dataset {
    Dataset {
        format: ds.format.clone(),
        source: format!("{}{suffix}", ds.source),
        scheme: ds.scheme.clone(),
        samples: keep.iter().map(|&i| ds.samples[i].clone()).collect(),
        subsets: {
            let pos: std::collections::BTreeMap<usize, usize> =
                keep.iter().enumerate().map(|(n, &o)| (o, n)).collect();
            ds.subsets
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.iter()
                            .filter_map(|i| pos.get(i).copied())
                            .collect::<Vec<_>>(),
                    )
                })
                .filter(|(_, v)| !v.is_empty())
                .collect()
        },
    }
}

/// Split by a file of sample ids (one per line; `#` comments and blank lines ignored). Every listed
/// id must exist, so a typo cannot silently leak validation faces into training.
pub fn split_by_ids(ds: Dataset, list: &Path) -> Result<(Dataset, Dataset)> {
    let text = std::fs::read_to_string(list).map_err(|e| Error::io(list, e))?;
    let ids: BTreeSet<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let known: BTreeSet<&str> = ds.samples.iter().map(|s| s.id.as_str()).collect();
    if let Some((n, missing)) = text
        .lines()
        .enumerate()
        .map(|(n, l)| (n, l.trim()))
        .find(|(_, l)| !l.is_empty() && !l.starts_with('#') && !known.contains(l))
    {
        return Err(facealign_core::Error::parse(
            list,
            format!("line {}", n + 1),
            format!("no sample with id `{missing}` in {}", ds.source),
        )
        .into());
    }
    let (val, train): (Vec<usize>, Vec<usize>) =
        (0..ds.samples.len()).partition(|&i| ids.contains(ds.samples[i].id.as_str()));
    if train.is_empty() || val.is_empty() {
        return Err(Error::Config(format!(
            "{}: the split leaves an empty train or validation set",
            list.display()
        )));
    }
    Ok((take(&ds, &train, "#train"), take(&ds, &val, "#val")))
}

/// A seeded random split holding out `fraction` of the samples (at least one).
pub fn split_train_val(ds: Dataset, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
    let n = ds.samples.len();
    if n < 2 {
        return Err(Error::Config(format!(
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
    Ok((take(&ds, &train, "#train"), take(&ds, &val, "#val")))
}
