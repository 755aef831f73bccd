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
