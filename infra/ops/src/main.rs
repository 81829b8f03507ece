//! `orders-ops`: parses the command line, runs the command, and turns any
//! failure into one line on standard error and exit status 1 (usage errors
//! are clap's, status 2). Logs (stderr) only when `RUST_LOG` asks for them.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = orders_ops::cli::Cli::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        orders_adapters::telemetry::init_with(
            orders_adapters::telemetry::LogFormat::Text,
            std::io::stderr,
        );
    }
    match orders_ops::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!(
                "orders-ops: {}",
                orders_adapters::telemetry::ErrorChain(&err)
            );
            std::process::ExitCode::FAILURE
        }
    }
}
