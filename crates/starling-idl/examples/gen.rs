//! Prints the Rust generated for an IDL file: `cargo run -p starling-idl --example gen -- FILE`.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: gen FILE");
        std::process::exit(2);
    };
    let src = std::fs::read_to_string(&path).unwrap_or_default();
    match starling_idl::compile_str(&path, &src, Default::default(), &Default::default()) {
        Ok(code) => print!("{code}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
