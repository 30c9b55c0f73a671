//! The library half of the `alcm` command-line tool: model files in and out of archives
//! (`files`), per-tensor bounds (`policy`), and the commands (`commands`). `src/main.rs` only
//! parses the command line.

pub mod commands;
pub mod files;
pub mod policy;
