//! `starling idl check|gen`: the IDL compiler on the command line.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::CliError;

/// `idl` arguments.
#[derive(Debug, Args)]
pub struct IdlArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: IdlCommand,
}

/// `idl` subcommands.
#[derive(Debug, Subcommand)]
pub enum IdlCommand {
    /// Preprocess, parse and resolve IDL files; print diagnostics.
    Check {
        /// IDL files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Include directory (repeatable).
        #[arg(short = 'I', value_name = "DIR")]
        include: Vec<PathBuf>,
    },
    /// Generate one Rust file per IDL file.
    Gen {
        /// IDL files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Include directory (repeatable).
        #[arg(short = 'I', value_name = "DIR")]
        include: Vec<PathBuf>,
        /// Output directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Path of the starling-proto crate in the generated code.
        #[arg(long, default_value = "::starling_proto", value_name = "PATH")]
        runtime: String,
    },
}

fn rejected(diags: &[starling_idl::Diagnostic]) -> CliError {
    for d in diags {
        eprintln!("{d}");
    }
    CliError::Idl(format!("IDL rejected ({} error{})", diags.len(), if diags.len() == 1 { "" } else { "s" }))
}

/// Runs `starling idl …`.
pub fn run(args: &IdlArgs) -> Result<(), CliError> {
    match &args.command {
        IdlCommand::Check { files, include } => {
            let model = starling_idl::check(files, include).map_err(|d| rejected(&d))?;
            for w in &model.warnings {
                eprintln!("{w}");
            }
            println!("ok: {} declarations", model.items.len());
            Ok(())
        }
        IdlCommand::Gen { files, include, out, runtime } => {
            std::fs::create_dir_all(out)?;
            let mut b = starling_idl::Builder::new().out_dir(out).runtime_crate(runtime.clone());
            for d in include {
                b = b.include_dir(d);
            }
            for f in files {
                b = b.file(f);
            }
            match b.compile() {
                Ok(written) => {
                    for p in written {
                        println!("{}", p.display());
                    }
                    Ok(())
                }
                Err(starling_idl::Error::Idl(d)) => Err(rejected(&d)),
                Err(e) => Err(CliError::Idl(e.to_string())),
            }
        }
    }
}

/// Loads `files` and builds the run-time type `name` from them (for `pub`/`sub --idl`).
pub(crate) fn load_type(
    files: &[PathBuf],
    include: &[PathBuf],
    name: &str,
) -> Result<starling_proto::xtypes::DynamicType, CliError> {
    let model = starling_idl::check(files, include).map_err(|d| rejected(&d))?;
    crate::dynamic::from_idl(&model, name).map_err(|e| CliError::Idl(e.to_string()))
}
