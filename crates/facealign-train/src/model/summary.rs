//! Model summary: per top-level layer output shape, parameter count and multiply-accumulates.
//!
//! The summary builds the model in a fresh CPU var store and runs one eval-mode forward pass on a
//! zero `[1, 3, S, S]` input. Output shapes are the real tensors' shapes. Parameters are the
//! trainable variables (BN running statistics excluded, as in PyTorch's `parameters()`), grouped by
//! the row's variable-name prefix. MACs are computed analytically from shapes for convolutions
//! (`H_out·W_out·C_out·C_in/groups·k_h·k_w`) and linear layers (`in·out`), per sample; biases,
//! batch-norm, activations, pooling, residual additions, SE products, upsampling, normalisation and
//! soft-argmax are not counted (this is the "mult-adds" convention of the MobileNetV2 paper).
use std::fmt;

use tch::{nn, Device, Kind, Tensor};

use super::blocks::macs;
use super::{build, ModelConfig};
use crate::{Error, Result};

/// One top-level layer of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// Layer name, equal to its variable-name prefix (`features.3`, `head`, `pool`).
    pub name: String,
    /// Output shape for a batch of one.
    pub output_shape: Vec<i64>,
    /// Trainable parameters of the layer.
    pub params: i64,
    /// Multiply-accumulates of the layer's convs and linears for one sample.
    pub mult_adds: u64,
}

/// A model summary for one input size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Input side S.
    pub input_size: i64,
    /// Top-level layers in execution order.
    pub rows: Vec<SummaryRow>,
    /// All trainable parameters.
    pub total_params: i64,
    /// All conv + linear MACs for one sample.
    pub mult_adds: u64,
}

/// A stage recorder where the caller asks for one (`model summary`), else `None`: the last
/// argument of every model's `forward_rec`.
pub(crate) type Rec<'a> = Option<&'a mut Recorder>;

/// Collects `(name, shape, MACs since the previous step)` during a forward pass.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    rows: Vec<(String, Vec<i64>, u64)>,
    last: u64,
}

impl Recorder {
    /// Records that the top-level layer `name` produced `out`.
    pub(crate) fn step(&mut self, name: impl Into<String>, out: &Tensor) {
        let now = macs::get();
        self.rows.push((name.into(), out.size(), now - self.last));
        self.last = now;
    }
}

/// Summarises `config` for input side `size` and `n_points` landmarks.
pub fn summary(config: &ModelConfig, size: i64, n_points: i64) -> Result<Summary> {
    if size < 32 {
        return Err(Error::invalid(
            "summary input size",
            format!("must be ≥ 32, got {size}"),
        ));
    }
    let vs = nn::VarStore::new(Device::Cpu);
    let model = build(config, vs.root(), n_points)?;
    let mut rec = Recorder::default();
    let x = Tensor::zeros([1, 3, size, size], (Kind::Float, Device::Cpu));
    macs::start();
    tch::no_grad(|| model.forward_rec(&x, false, Some(&mut rec)));
    let total_macs = macs::stop();
    let vars = vs.variables();
    let params_under = |prefix: &str| -> i64 {
        vars.iter()
            .filter(|(k, v)| v.requires_grad() && k.starts_with(prefix))
            .map(|(_, v)| v.numel() as i64)
            .sum()
    };
    let rows = rec
        .rows
        .into_iter()
        .map(|(name, output_shape, mult_adds)| {
            let params = params_under(&format!("{name}."));
            SummaryRow {
                name,
                output_shape,
                params,
                mult_adds,
            }
        })
        .collect();
    Ok(Summary {
        input_size: size,
        rows,
        total_params: params_under(""),
        mult_adds: total_macs,
    })
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<14} {:<22} {:>12} {:>14}",
            "layer", "output shape", "params", "mult-adds"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<14} {:<22} {:>12} {:>14}",
                r.name,
                format!("{:?}", r.output_shape),
                r.params,
                r.mult_adds
            )?;
        }
        writeln!(
            f,
            "total params {}, mult-adds {:.1} M at {}×{}",
            self.total_params,
            self.mult_adds as f64 / 1e6,
            self.input_size,
            self.input_size
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MobileNetV2Config;

    #[test]
    fn mobilenet_v2_macs_at_224_close_to_published_300m() {
        let s = summary(
            &ModelConfig::MobilenetV2(MobileNetV2Config::default()),
            224,
            500,
        )
        .unwrap();
        // With 500 points the head is Linear(1280 → 1000) = torchvision's classifier, so this is the
        // ImageNet network of the paper: published 300 M mult-adds (Sandler et al., Table 3).
        let m = s.mult_adds as f64 / 1e6;
        assert!((m - 300.0).abs() < 6.0, "{m} M");
        // Rows add up; the stem at 224: 112·112 outputs × 32 ch × 3·3·3 = 10,838,016 MACs,
        // params 32·27 + 2·32 (BN) = 928.
        assert_eq!(s.rows.iter().map(|r| r.mult_adds).sum::<u64>(), s.mult_adds);
        assert_eq!(s.rows.iter().map(|r| r.params).sum::<i64>(), s.total_params);
        assert_eq!(s.rows[0].name, "features.0");
        assert_eq!(s.rows[0].output_shape, vec![1, 32, 112, 112]);
        assert_eq!(s.rows[0].mult_adds, 10_838_016);
        assert_eq!(s.rows[0].params, 928);
        // Last row: head, 1280·1000 MACs.
        let head = s.rows.last().unwrap();
        assert_eq!((head.name.as_str(), head.mult_adds), ("head", 1_280_000));
        assert!(s.to_string().contains("features.18"));
    }

    #[test]
    fn asmnet_flops_match_the_paper() {
        // ASMNet paper (num_params.png): 0.51 GFLOPs; with FLOPs = 2·MACs our count is 2·256.5 M.
        let cfg = ModelConfig::Asmnet(crate::model::AsmNetConfig::default());
        let s = summary(&cfg, 224, 68).unwrap();
        let gflops = 2.0 * s.mult_adds as f64 / 1e9;
        assert!((gflops - 0.51).abs() < 0.01, "{gflops}");
        assert_eq!(s.total_params, 1_412_435);
        let names: Vec<&str> = s
            .rows
            .iter()
            .rev()
            .take(3)
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["pose", "landmarks", "pool_concat"]);
        assert_eq!(s.rows[s.rows.len() - 3].output_shape, vec![1, 536]);
    }

    #[test]
    fn summary_rejects_tiny_inputs() {
        assert!(summary(
            &ModelConfig::MobilenetV2(MobileNetV2Config::default()),
            8,
            68
        )
        .is_err());
    }
}
