//! Runs the timeout simulator on workload files and prints how each policy did.
//!
//! ```text
//! cargo run --release --example simulate_timeouts -- examples/workloads/mixed.toml
//! cargo run --release --example simulate_timeouts -- --json examples/workloads/*.toml
//! ```
//!
//! Each workload is played against `FixedTimeout(default_timeout_secs)`, `SeedAdaptive` and
//! `AdaptiveTimeout` with the same retry settings; the format of workload files is in README.md
//! ("Workload files").
use std::process::ExitCode;

use riptide::policies::simulate::{Workload, compare, render_table};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    if files.is_empty() {
        eprintln!("usage: simulate_timeouts [--json] WORKLOAD.toml|WORKLOAD.json...");
        return ExitCode::from(2);
    }
    for file in files {
        let workload = match Workload::from_path(file) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let reports = compare(&workload);
        if json {
            let value = serde_json::json!({ "workload": workload.name, "file": file, "reports": reports });
            println!("{value}");
        } else {
            println!(
                "## {} ({} requests, seed {})\n",
                workload.name,
                workload.total_requests(),
                workload.seed
            );
            println!("{}", workload.description.trim());
            println!("\n{}", render_table(&reports));
        }
    }
    ExitCode::SUCCESS
}
