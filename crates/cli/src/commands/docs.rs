//! `alertsync completions SHELL` and `alertsync man`: shell completions and manual pages,
//! generated from the same definitions as `--help`, so they never disagree with it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

#[derive(Args)]
#[command(after_help = "Install, for example:\n  \
alertsync completions bash > /etc/bash_completion.d/alertsync\n  \
alertsync completions zsh > \"${fpath[1]}/_alertsync\"\n  \
alertsync completions fish > ~/.config/fish/completions/alertsync.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Args)]
#[command(
    after_help = "Read it with `alertsync man | man -l -`; packages install \
`alertsync man --dir /usr/share/man/man1`."
)]
pub struct ManArgs {
    /// Write `alertsync.1` and one page per subcommand (`alertsync-serve.1`, ...) into this
    /// directory instead of printing `alertsync.1`.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell`.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "alertsync",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints the manual page, or writes every page into `--dir`.
pub fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let command = Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .and_then(|()| clap_mangen::generate_to(command, &dir))
                .map_err(|err| {
                    anyhow::anyhow!("writing manual pages into {}: {err}", dir.display())
                })?;
        }
        None => clap_mangen::Man::new(command).render(&mut std::io::stdout())?,
    }
    Ok(ExitCode::SUCCESS)
}
