//! One optimiser step: a batch → forward → the objective over its labelled points → backward →
//! Adam. [`crate::train::train`] runs it in its loop and `facealign bench` times it as it is
//! ([`TrainStep::synthetic`]).
use tch::{nn::VarStore, Device, Tensor};

use crate::adam::Adam;
use crate::config::OptimConfig;
use crate::error::{Error, Result};
use crate::model::{self, LandmarkModel, ModelConfig};
use crate::objective::{scalar, BatchTargets, CleanShapes, LossConfig, Objective};
use facealign_core::mixed::MixedBatch;
use facealign_core::scheme::{Scheme, SchemeId};
use facealign_core::shape::ShapeModel;

/// What one step reports.
#[derive(Debug, Clone, Copy)]
pub struct StepOutcome {
    /// The batch's loss (before the update).
    pub loss: f64,
    /// ACR variance share or ASM α in force, if any.
    pub schedule_value: Option<f64>,
}

/// Knowledge distillation's teacher: a trained network run in inference mode on each batch, and
/// the weight of the student's mean squared difference to its outputs (`[distill]`).
pub(crate) struct Teacher {
    /// Holds the teacher's weights (the network reads them).
    _vs: VarStore,
    net: LandmarkModel,
    weight: f64,
}

impl Teacher {
    pub(crate) fn new(vs: VarStore, net: LandmarkModel, weight: f64) -> Teacher {
        Teacher {
            _vs: vs,
            net,
            weight,
        }
    }

    /// `weight` × the mean over every coordinate of (student − teacher)², the teacher's outputs
    /// on the same images `xs` taken as constants.
    fn term(&self, xs: &Tensor, student: &Tensor) -> Tensor {
        let target = tch::no_grad(|| self.net.forward_t(xs, false).landmarks);
        (student - target).square().mean(student.kind()) * self.weight
    }
}

/// The model, its objective and its optimiser: everything one step changes or reads.
pub struct TrainStep {
    /// The model's variables (checkpoints read and write them).
    pub(crate) vs: VarStore,
    pub(crate) net: LandmarkModel,
    pub(crate) objective: Objective,
    pub(crate) opt: Adam,
    seed: u64,
    input_size: i64,
    teacher: Option<Teacher>,
}

/// SplitMix64 over three words: a well-spread, reproducible seed per (seed, epoch, step).
pub(crate) fn mix_seed(seed: u64, a: u64, b: u64) -> i64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

impl TrainStep {
    /// The model.
    pub fn net(&self) -> &LandmarkModel {
        &self.net
    }

    /// Assemble a step; `seed` makes the step's randomness (dropout) a function of (seed, epoch,
    /// step).
    pub(crate) fn new(
        vs: VarStore,
        net: LandmarkModel,
        objective: Objective,
        opt: Adam,
        seed: u64,
        input_size: u32,
    ) -> TrainStep {
        TrainStep {
            vs,
            net,
            objective,
            opt,
            seed,
            input_size: i64::from(input_size),
            teacher: None,
        }
    }

    /// Distil from `teacher` as well (`[distill]`).
    pub(crate) fn with_teacher(mut self, teacher: Teacher) -> TrainStep {
        self.teacher = Some(teacher);
        self
    }

    /// Train on one batch at learning rate `lr` (step `step` of epoch `epoch`, 0-based). A loss
    /// that is not finite stops training with an error before the update.
    pub fn run(
        &mut self,
        batch: &MixedBatch,
        epoch: usize,
        step: usize,
        lr: f64,
    ) -> Result<StepOutcome> {
        let n = batch.len() as i64;
        let s = self.input_size;
        let xs = Tensor::from_slice(&batch.images).view([n, 3, s, s]);
        let ys = Tensor::from_slice(&batch.landmarks).view([n, 2 * batch.n_slots as i64]);
        tch::manual_seed(mix_seed(self.seed, epoch as u64, step as u64));
        let out = self.net.forward_t(&xs, true);
        let targets = BatchTargets {
            gt: &ys,
            gt_host: &batch.landmarks,
            labelled: &batch.weights,
            indices: &batch.indices,
            flipped: &batch.flipped,
        };
        let mut lv = self.objective.compute(&out, &targets, epoch)?;
        if let Some(teacher) = &self.teacher {
            lv.loss = &lv.loss + teacher.term(&xs, &out.landmarks);
        }
        let loss = scalar(&lv.loss);
        if !loss.is_finite() {
            return Err(Error::Diverged {
                epoch: epoch + 1,
                step,
                loss,
            });
        }
        self.opt.zero_grad();
        lv.loss.backward();
        self.opt.step(lr);
        Ok(StepOutcome {
            loss,
            schedule_value: lv.schedule_value,
        })
    }

    /// The step `facealign bench` times: a freshly initialised `model` with `points` landmarks,
    /// default Adam, and one synthetic batch of `batch` random `size`-px images with random
    /// targets, every point labelled. The objective is the ACR loss with its clean-shape Φ (as
    /// training runs it) on a PCA of 4·batch random shapes when a landmark scheme has `points`
    /// points, else L2. Returns the step, the batch, and the loss's name.
    pub fn synthetic(
        model: &ModelConfig,
        points: usize,
        batch: usize,
        size: u32,
    ) -> Result<(TrainStep, MixedBatch, &'static str)> {
        let vs = VarStore::new(Device::Cpu);
        let net = model::build(model, vs.root(), points as i64)?;
        let opt = Adam::new(&vs, &OptimConfig::default());
        let dim = 2 * points;
        let shapes: Vec<Vec<f32>> = (0..4 * batch.max(2))
            .map(|_| {
                Vec::try_from(Tensor::rand([dim as i64], (tch::Kind::Float, Device::Cpu)) - 0.5)
            })
            .collect::<std::result::Result<_, _>>()?;
        let (objective, loss) = match SchemeId::from_n_points(points) {
            Some(id) => {
                let shape = ShapeModel::fit(&shapes, id)?;
                let obj =
                    Objective::new(LossConfig::Acr(Default::default()), Some(shape), size, 1)?
                        .with_clean_shapes(CleanShapes::new(shapes.clone(), Scheme::get(id).flip));
                (obj, "acr")
            }
            None => (
                Objective::new(LossConfig::L2(Default::default()), None, size, 1)?,
                "l2",
            ),
        };
        let s = size as usize;
        let images: Vec<f32> = Vec::try_from(Tensor::rand(
            [(batch * 3 * s * s) as i64],
            (tch::Kind::Float, Device::Cpu),
        ))?;
        let synthetic = MixedBatch {
            images,
            landmarks: shapes[..batch].concat(),
            weights: vec![1.0; batch * points],
            indices: (0..batch).collect(),
            origin: (0..batch).map(|i| (0, i)).collect(),
            flipped: vec![false; batch],
            n_slots: points,
        };
        Ok((
            TrainStep::new(vs, net, objective, opt, 0, size),
            synthetic,
            loss,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every trainable weight of `vs`, flattened (batch-norm statistics are buffers, not in it).
    fn flat_weights(vs: &VarStore) -> Tensor {
        let v: Vec<Tensor> = vs
            .trainable_variables()
            .iter()
            .map(|t| t.flatten(0, -1))
            .collect();
        tch::no_grad(|| Tensor::cat(&v, 0))
    }

    #[test]
    fn the_synthetic_step_trains_with_acr_or_l2_by_scheme() {
        // What `bench` times: ACR for a scheme's point count, finite losses, and every step moves
        // the weights (Adam at lr 1e-3 moves each by up to ~1e-3). Whether training learns is
        // `a_tiny_model_learns_the_fixture_faces`: with batch norm over two random images the loss
        // of single steps is too noisy to test (even without dropout it did not fall over 40 steps
        // at lr 1e-4; `losses[11] < losses[0]` held for one seed by luck and failed on a busy run).
        tch::manual_seed(3);
        let (mut step, batch, loss) =
            TrainStep::synthetic(&ModelConfig::default(), 5, 2, 32).expect("builds");
        assert_eq!(loss, "acr", "5 points: the five-point scheme's PCA");
        let weights = |step: &TrainStep| flat_weights(&step.vs);
        let mut before = weights(&step);
        for k in 0..4 {
            let loss = step.run(&batch, 0, k, 1e-3).expect("finite").loss;
            assert!(loss.is_finite() && loss > 0.0, "step {k}: {loss}");
            let after = weights(&step);
            let moved = (&after - &before).abs().max().double_value(&[]);
            assert!(moved > 1e-5, "step {k} left the weights as they were");
            before = after;
        }
        let (_, _, loss) = TrainStep::synthetic(&ModelConfig::default(), 7, 2, 32).expect("builds");
        assert_eq!(loss, "l2", "no scheme has 7 points");
    }

    #[test]
    fn a_loss_that_is_not_finite_is_reported_as_diverged_before_the_update() {
        tch::manual_seed(4);
        let (mut step, batch, _) =
            TrainStep::synthetic(&ModelConfig::default(), 5, 2, 32).expect("builds");
        // Adam moves every weight by ~lr: at 1e30 the next forward overflows.
        let mut err = None;
        for k in 0..4 {
            if let Err(e) = step.run(&batch, 2, k, 1e30) {
                err = Some(e);
                break;
            }
        }
        match err {
            Some(Error::Diverged { epoch, loss, .. }) => {
                assert_eq!(epoch, 3, "1-based epoch");
                assert!(!loss.is_finite());
            }
            other => panic!("expected Diverged, got {other:?}"),
        }
    }

    #[test]
    fn distillation_adds_the_weighted_mean_squared_difference_to_the_teacher() {
        // Two identical steps (the same weights copied, no dropout, 7 points so the objective
        // is L2 without a randomly fitted shape model: nothing depends on libtorch's global
        // generator, which tests running in parallel share), one with a narrower random teacher
        // at weight 0.7: the losses differ by exactly 0.7 · mean((student − teacher)²) over all
        // 2·7·2 coordinates, computed here by hand from the two networks' outputs on the batch.
        let w = 0.7;
        let student: ModelConfig =
            serde_json::from_str(r#"{"arch":"mobilenet_v2","dropout":0.0}"#).expect("config");
        let (mut plain, batch, _) = TrainStep::synthetic(&student, 7, 2, 32).expect("builds");
        let (mut with, _, _) = TrainStep::synthetic(&student, 7, 2, 32).expect("builds");
        with.vs.copy(&plain.vs).expect("same variables");
        let tvs = VarStore::new(Device::Cpu);
        let narrow: ModelConfig =
            serde_json::from_str(r#"{"arch":"mobilenet_v2","width":0.5}"#).expect("config");
        let tnet = model::build(&narrow, tvs.root(), 7).expect("teacher");
        let teacher_before: Vec<f32> = Vec::try_from(flat_weights(&tvs)).expect("floats");
        let mut with = with.with_teacher(Teacher::new(tvs, tnet, w));

        let xs = Tensor::from_slice(&batch.images).view([2, 3, 32, 32]);
        let student: Vec<f32> = Vec::try_from(tch::no_grad(|| {
            with.net.forward_t(&xs, true).landmarks.flatten(0, -1)
        }))
        .expect("floats");
        let teacher = with.teacher.as_ref().expect("teacher");
        let target: Vec<f32> = Vec::try_from(tch::no_grad(|| {
            teacher.net.forward_t(&xs, false).landmarks.flatten(0, -1)
        }))
        .expect("floats");
        assert_eq!(student.len(), 28);
        let by_hand = w * student
            .iter()
            .zip(&target)
            .map(|(s, t)| (f64::from(*s) - f64::from(*t)).powi(2))
            .sum::<f64>()
            / 28.0;
        assert!(
            by_hand > 1e-6,
            "a random teacher disagrees with the student"
        );

        let l_plain = plain.run(&batch, 0, 0, 1e-3).expect("finite").loss;
        let l_with = with.run(&batch, 0, 0, 1e-3).expect("finite").loss;
        assert!(
            ((l_with - l_plain) - by_hand).abs() <= 1e-5 * by_hand.max(1.0),
            "difference {} vs {by_hand}",
            l_with - l_plain
        );
        // The teacher only teaches: its weights are untouched by the step.
        let teacher = with.teacher.as_ref().expect("teacher");
        let after: Vec<f32> = Vec::try_from(flat_weights(&teacher._vs)).expect("floats");
        assert_eq!(after, teacher_before);
    }

    #[test]
    fn mix_seed_differs_per_step_and_repeats() {
        assert_eq!(mix_seed(1, 2, 3), mix_seed(1, 2, 3));
        assert_ne!(mix_seed(1, 2, 3), mix_seed(1, 2, 4));
        assert_ne!(mix_seed(1, 2, 3), mix_seed(1, 3, 3));
        assert!(mix_seed(u64::MAX, u64::MAX, u64::MAX) >= 0);
    }
}
