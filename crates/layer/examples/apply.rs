//! Applies layer blobs onto a directory, in order, and prints each diff id and the time
//! taken: `cargo run --release --example apply -- TARGET BLOB...`. Used to compare with
//! `umoci unpack` and `gzip -dc | tar -x`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let target = args.next().ok_or("usage: apply TARGET BLOB...")?;
    let opts = berth_layer::ApplyOptions::default();
    for blob in args {
        let start = Instant::now();
        let file = std::fs::File::open(&blob)?;
        let stats = berth_layer::apply(file, target.as_ref(), &opts)?;
        println!(
            "{} {} bytes, {} entries, {:?}",
            stats.diff_id,
            stats.size,
            stats.entries,
            start.elapsed()
        );
    }
    Ok(())
}
