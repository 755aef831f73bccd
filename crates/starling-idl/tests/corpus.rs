//! Every file of the dds-types-test corpus preprocesses, parses and resolves.

use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/idl-corpus/dds-types-test/IDL")
}

#[test]
fn every_corpus_file_resolves() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus directory (../shared next to the repository)")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "idl"))
        .collect();
    files.sort();
    assert!(files.len() >= 27, "corpus incomplete: {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        match starling_idl::check(&[f], &[&dir]) {
            Ok(model) => {
                assert!(!model.items.is_empty() || f.ends_with("interfaces_basic.idl"), "{} is empty", f.display())
            }
            Err(errs) => failures.push(errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Cyclone DDS's own XTypes IDL (Debian `cyclonedds-dev`, installed by `.ci/setup`): the TypeObject,
/// TypeLookup and type-map definitions, dense with `@nested`, `@extensibility`, `@external` and enum-switched
/// unions. Skipped (with a note) where the package is not installed.
#[test]
fn cyclone_xtypes_idl_resolves() {
    let dir = PathBuf::from("/usr/include/dds/ddsi");
    let files = ["ddsi_xt_typeinfo.idl", "ddsi_xt_typelookup.idl", "ddsi_xt_typemap.idl"];
    if !dir.join(files[0]).is_file() {
        eprintln!("cyclonedds-dev is not installed; skipped");
        return;
    }
    for f in files {
        let model = starling_idl::check(&[dir.join(f)], &[&dir])
            .unwrap_or_else(|e| panic!("{f}: {}", e.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")));
        assert!(model.items.len() > 100, "{f}: {} items", model.items.len());
    }
}
