//! The `starling` command-line tool.

use clap::Parser;
use starling::cli::{init_logging, run, Cli, CliError};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("starling: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The command runs as a task on the worker threads, not on this thread: a sample that a socket's receive
    // task hands to a waiting reader then wakes the command on the same worker (tokio's LIFO slot) instead of
    // unparking another thread, which saves a thread switch per sample on latency-bound paths (perf ping/pong).
    let result = rt.block_on(async {
        tokio::spawn(run(cli)).await.unwrap_or_else(|e| Err(CliError::Wait(format!("the command's task failed: {e}"))))
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starling: {e}");
            ExitCode::FAILURE
        }
    }
}
