//! Adam / AdamW on a `VarStore`, with state that can be saved and restored exactly.
//!
//! tch's built-in optimiser does not expose its moment buffers, and `--resume` must continue
//! bit-for-bit, so the update is written here with in-place tensor ops (Kingma & Ba 2015;
//! AdamW: Loshchilov & Hutter 2019). Parameters are ordered by variable name.
use std::collections::BTreeMap;

use tch::{nn::VarStore, Kind, Tensor};

use crate::config::{OptimConfig, OptimKind};

/// Adam state over the trainable variables of a `VarStore`.
pub struct Adam {
    cfg: OptimConfig,
    params: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Number of updates made so far.
    pub step: i64,
}

impl Adam {
    /// Zero moments for every trainable variable of `vs`.
    pub fn new(vs: &VarStore, cfg: &OptimConfig) -> Adam {
        let vars: BTreeMap<String, Tensor> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        let params: Vec<(String, Tensor)> = vars.into_iter().collect();
        let m = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let v = params.iter().map(|(_, p)| p.zeros_like()).collect();
        Adam {
            cfg: cfg.clone(),
            params,
            m,
            v,
            step: 0,
        }
    }

    /// Clear the gradients of every parameter.
    pub fn zero_grad(&mut self) {
        for (_, p) in self.params.iter_mut() {
            p.zero_grad();
        }
    }

    /// One update with learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        self.step += 1;
        let (b1, b2, eps, wd) = (
            self.cfg.beta1,
            self.cfg.beta2,
            self.cfg.eps,
            self.cfg.weight_decay,
        );
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2 = 1.0 - b2.powi(self.step as i32);
        tch::no_grad(|| {
            for ((_, p), (m, v)) in self
                .params
                .iter_mut()
                .zip(self.m.iter_mut().zip(self.v.iter_mut()))
            {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let g = if wd > 0.0 && self.cfg.kind == OptimKind::Adam {
                    &g + &*p * wd
                } else {
                    g
                };
                let _ = m.lerp_(&g, 1.0 - b1);
                let _ = v.g_mul_scalar_(b2);
                let _ = v.g_add_(&(g.square() * (1.0 - b2)));
                let denom = (v.sqrt() / bc2.sqrt()) + eps;
                if wd > 0.0 && self.cfg.kind == OptimKind::AdamW {
                    let _ = p.g_mul_scalar_(1.0 - lr * wd);
                }
                let _ = p.g_sub_(&(&*m / denom * (lr / bc1)));
            }
        });
    }

    /// The moment buffers as named tensors (`optim.m.NAME`, `optim.v.NAME`) plus the step count.
    pub fn state(&self) -> (Vec<(String, Tensor)>, i64) {
        let mut out = Vec::with_capacity(self.params.len() * 2);
        for ((name, _), (m, v)) in self.params.iter().zip(self.m.iter().zip(self.v.iter())) {
            out.push((format!("optim.m.{name}"), m.shallow_clone()));
            out.push((format!("optim.v.{name}"), v.shallow_clone()));
        }
        (out, self.step)
    }

    /// Restore moments saved by [`Adam::state`]. Missing entries are an error message.
    pub fn restore(&mut self, tensors: &BTreeMap<String, Tensor>, step: i64) -> Result<(), String> {
        for ((name, _), (m, v)) in self
            .params
            .iter()
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            let mk = format!("optim.m.{name}");
            let vk = format!("optim.v.{name}");
            let (Some(ms), Some(vsrc)) = (tensors.get(&mk), tensors.get(&vk)) else {
                return Err(format!("optimiser state for `{name}` is missing"));
            };
            tch::no_grad(|| {
                m.copy_(&ms.to_kind(Kind::Float));
                v.copy_(&vsrc.to_kind(Kind::Float));
            });
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device};

    /// One Adam step from zero moments moves every coordinate by exactly lr·sign(g)
    /// (m̂ = g, v̂ = g², so m̂/(√v̂ + ε) = g/|g| up to ε).
    #[test]
    fn first_step_moves_by_lr_times_sign() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs
            .root()
            .var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0, 3.0]));
        let mut opt = Adam::new(
            &vs,
            &OptimConfig {
                eps: 1e-12,
                ..OptimConfig::default()
            },
        );
        let loss = (&w * Tensor::from_slice(&[2.0f32, -3.0, 0.5])).sum(Kind::Float);
        opt.zero_grad();
        loss.backward();
        opt.step(0.1);
        let got: Vec<f32> = Vec::try_from(&w).unwrap();
        let want = [0.9f32, -1.9, 2.9];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
        let _ = nn::VarStore::new(Device::Cpu);
    }

    /// AdamW decays the weight by lr·wd before the Adam update: with a zero gradient
    /// nothing but the decay acts... except g is undefined only when unused; use g = 0.
    #[test]
    fn adamw_decoupled_decay() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[2.0f32]));
        let cfg = OptimConfig {
            kind: OptimKind::AdamW,
            weight_decay: 0.5,
            ..OptimConfig::default()
        };
        let mut opt = Adam::new(&vs, &cfg);
        let loss = (&w * 0.0).sum(Kind::Float);
        opt.zero_grad();
        loss.backward();
        opt.step(0.1);
        // 2 * (1 - 0.1*0.5) = 1.9, and the Adam term is 0/(0+eps) = 0.
        let got = w.double_value(&[0]);
        assert!((got - 1.9).abs() < 1e-6, "{got}");
    }
}
