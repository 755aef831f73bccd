//! Compiles the IDL in `idl/` and the data-type files of the shared dds-types-test corpus.

use std::path::PathBuf;

/// Corpus files that declare data types (interfaces/exceptions are only parsed, in starling-idl's own tests).
const CORPUS: &[&str] = &[
    "aliases",
    "annotations",
    "appendable",
    "arrays",
    "bitsets",
    "constants",
    "declarations",
    "enumerations",
    "external",
    "final",
    "inheritance",
    "key",
    "maps",
    "member_id",
    "mutable",
    "optional",
    "primitives",
    "sequences",
    "strings",
    "structures",
    "unions",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let idl = manifest.join("idl");
    let mut b = starling_idl::Builder::new()
        .include_dir(&idl)
        .out_dir(&out)
        .test_support("crate::testing")
        .emit_rerun_if_changed(true);
    for f in ["shape.idl", "examples.idl"] {
        b = b.file(idl.join(f));
    }
    b.compile()?;
    let corpus = manifest.join("../../../shared/idl-corpus/dds-types-test/IDL");
    let corpus_out = out.join("corpus");
    std::fs::create_dir_all(&corpus_out)?;
    if !corpus.is_dir() {
        // Without the shared corpus next to the repository, the corpus modules are empty.
        println!("cargo:warning=IDL corpus not found at {}; corpus round trips are skipped", corpus.display());
        for f in CORPUS {
            std::fs::write(
                corpus_out.join(format!("{f}.rs")),
                "/// No corpus.\npub fn visit_types(_: &mut impl crate::testing::Visitor) {}\n",
            )?;
        }
        return Ok(());
    }
    let mut b = starling_idl::Builder::new()
        .include_dir(&corpus)
        .out_dir(&corpus_out)
        .test_support("crate::testing")
        .emit_rerun_if_changed(true);
    for f in CORPUS {
        b = b.file(corpus.join(format!("{f}.idl")));
    }
    b.compile()?;
    Ok(())
}
