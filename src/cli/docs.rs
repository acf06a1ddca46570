//! `rosterd completions SHELL` and `rosterd man`: shell completions and the man page,
//! generated from the clap definitions, so they never drift from the command line.

use std::io::Write;

use clap::CommandFactory;

use super::Cli;
use crate::exit;

/// The shells completions are made for.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// Write the completion script for `shell` on stdout.
pub fn completions(shell: CompletionShell) -> u8 {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    let generator = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "rosterd", &mut out);
    emit(&out)
}

/// Write the man page (roff, section 1) on stdout: `rosterd man > rosterd.1`.
pub fn man() -> u8 {
    let cmd = Cli::command();
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
        eprintln!("rosterd: cannot render the man page: {e}");
        return exit::ERROR;
    }
    emit(&out)
}

fn emit(bytes: &[u8]) -> u8 {
    match std::io::stdout().lock().write_all(bytes) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("rosterd: cannot write to stdout: {e}");
            exit::ERROR
        }
    }
}
