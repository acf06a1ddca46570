//! The rosterd command line: parse, dispatch, exit with a documented code. Nothing else.

fn main() -> std::process::ExitCode {
    rosterd::cli::main()
}
