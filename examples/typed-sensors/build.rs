//! Compiles `idl/sensors.idl` (at the repository root) into `OUT_DIR/sensors.rs` at build time.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let idl = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../idl");
    starling_idl::Builder::new()
        .file(idl.join("sensors.idl"))
        .include_dir(&idl)
        .out_dir(std::env::var("OUT_DIR")?)
        // The generated code names the runtime by this path; `starling` re-exports starling-proto as `proto`.
        .runtime_crate("::starling::proto")
        .emit_rerun_if_changed(true)
        .compile()?;
    Ok(())
}
