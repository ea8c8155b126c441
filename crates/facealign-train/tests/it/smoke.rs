#[test]
fn libtorch_links_and_computes() {
    let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    let s: f64 = (&t * &t).sum(tch::Kind::Float).double_value(&[]);
    assert_eq!(s, 14.0);
}
