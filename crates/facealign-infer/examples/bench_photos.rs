//! Writes the end-to-end benchmark's photos: `N` one-face 500×375 JPEGs (five fixture photos,
//! cycled) into `DIR`, for timing `facealign predict DIR` (`scripts/bench_predict.sh`).
//!
//! `cargo run --release -p facealign-infer --example bench_photos -- DIR N`
#[path = "../benches/common/photos.rs"]
mod photos;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, n) = match args.as_slice() {
        [_, dir, n] => (std::path::PathBuf::from(dir), n.parse::<usize>()),
        _ => {
            eprintln!("usage: bench_photos DIR N");
            std::process::exit(2);
        }
    };
    let n = n.unwrap_or_else(|e| {
        eprintln!("N: {e}");
        std::process::exit(2);
    });
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let bytes: Vec<Vec<u8>> = photos::FRAMES
        .iter()
        .map(|&f| photos::jpeg(&photos::photo(f)))
        .collect();
    for k in 0..n {
        let p = dir.join(format!("photo_{k:03}.jpg"));
        std::fs::write(&p, &bytes[k % bytes.len()])
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    println!("{n} photos (500x375, one face) in {}", dir.display());
}
