//! `alcm`: compress model files (.safetensors, .npz, .npy) into alcm archives and back.

use std::path::PathBuf;
use std::process::ExitCode;

use alcm::archive::{Bound, BudgetMethod};
use alcm_cli::commands;
use alcm_cli::files::Budget;
use alcm_cli::policy::{parse_override, Policy};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "alcm",
    version,
    about = "Error-bounded compression of ML model files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compress a .safetensors, .npz or .npy file into an archive (.alcm).
    Compress {
        /// The model file.
        input: PathBuf,
        /// The archive to write (.alcm).
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        bound: BoundArgs,
        /// Per-name bound, GLOB=BOUND with BOUND lossless, rel-l2:E or max-abs:E (the first
        /// match wins), e.g. --override '*LayerNorm*=lossless'. Repeatable.
        #[arg(long = "override", value_name = "GLOB=BOUND", value_parser = parse_override)]
        overrides: Vec<(String, Bound)>,
        /// How --budget-rel-l2 spreads the budget: search (measured curves), closed-form
        /// (b_i = E * rms(model) / rms(tensor)), predictor (curves predicted from each
        /// tensor's statistics, no trial compression) or uniform (E everywhere).
        #[arg(long, default_value = "search", value_name = "METHOD")]
        budget_method: String,
        /// Threads per tensor (1..=64).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        threads: u16,
        /// Replace OUTPUT if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Decompress an archive into .safetensors, .npz or .npy (by OUTPUT's extension).
    Decompress {
        /// The archive.
        input: PathBuf,
        /// The file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Threads per tensor (1..=64).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        threads: u16,
        /// Replace OUTPUT if it exists.
        #[arg(long)]
        force: bool,
    },
    /// List an archive's tensors: dtype, shape, mode, bits per value, achieved error.
    Info {
        /// The archive.
        file: PathBuf,
    },
    /// Check every checksum and decode every tensor of an archive.
    Verify {
        /// The archive.
        file: PathBuf,
    },
    /// Compress a model file in several modes; print size and speed side by side.
    Bench {
        /// The model file (.safetensors, .npz or .npy).
        file: PathBuf,
        /// Threads per tensor (1..=64).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        threads: u16,
    },
}

/// One default bound (relative L2 1e-3 when none is given).
#[derive(Args)]
#[group(multiple = false)]
struct BoundArgs {
    /// Guarantee ||x - x'|| <= E ||x|| per tensor (0 < E < 1).
    #[arg(long, value_name = "E")]
    rel_l2: Option<f64>,
    /// Guarantee |x - x'| <= E for every value (E > 0).
    #[arg(long, value_name = "E")]
    max_abs: Option<f64>,
    /// Bit-exact.
    #[arg(long)]
    lossless: bool,
    /// One budget for the whole model: ||X - X'|| <= E ||X|| over all float tensors
    /// (float32, bfloat16, float16, float64, each in its own type) together, spread across tensors at equal rate-distortion slope (overrides stay fixed).
    #[arg(long, value_name = "E")]
    budget_rel_l2: Option<f64>,
    /// One budget for the whole model: the tensors' stored bytes at most B, at the smallest
    /// model error.
    #[arg(long, value_name = "B")]
    budget_bytes: Option<u64>,
}

impl BoundArgs {
    fn bound(&self) -> Result<Bound, String> {
        let spec = match (self.rel_l2, self.max_abs, self.lossless) {
            (Some(e), ..) => format!("rel-l2:{e}"),
            (_, Some(e), _) => format!("max-abs:{e}"),
            (_, _, true) => "lossless".into(),
            _ => "rel-l2:1e-3".into(),
        };
        alcm_cli::policy::parse_bound(&spec)
    }

    fn budget(&self, method: &str) -> Result<Option<Budget>, String> {
        let method = match method {
            "search" => BudgetMethod::Search,
            "closed-form" => BudgetMethod::ClosedForm,
            "uniform" => BudgetMethod::Uniform,
            "predictor" => BudgetMethod::Predictor,
            m => {
                return Err(format!(
                    "unknown budget method {m:?} (search, closed-form, predictor or uniform)"
                ))
            }
        };
        Ok(match (self.budget_rel_l2, self.budget_bytes) {
            (Some(e), _) if e > 0.0 && e < 1.0 => Some(Budget::RelL2(e, method)),
            (Some(e), _) => return Err(format!("--budget-rel-l2 must be in (0, 1), got {e}")),
            (_, Some(b)) => Some(Budget::Bytes(b)),
            _ => None,
        })
    }
}

fn run(cli: Cli) -> Result<String, String> {
    match cli.command {
        Command::Compress {
            input,
            output,
            bound,
            overrides,
            budget_method,
            threads,
            force,
        } => {
            let policy = Policy {
                default: bound.bound()?,
                overrides,
            };
            let budget = bound.budget(&budget_method)?;
            commands::compress(&input, &output, &policy, budget, threads as usize, force)
        }
        Command::Decompress {
            input,
            output,
            threads,
            force,
        } => commands::decompress(&input, &output, threads as usize, force),
        Command::Info { file } => commands::info(&file),
        Command::Verify { file } => commands::verify(&file, 1),
        Command::Bench { file, threads } => commands::bench(&file, threads as usize),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // One line: clap's first line ("error: ..."), without the usage block.
            let text = e.render().to_string();
            eprintln!(
                "alcm: {}",
                text.lines()
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("alcm: error: {e}");
            ExitCode::FAILURE
        }
    }
}
