//! The `lumora-hr-mini` command: everything lives in the library's
//! [`lumora_hr_mini::cli`] module.

fn main() -> std::process::ExitCode {
    lumora_hr_mini::cli::main()
}
