//! The `lumora-hr-mini` command.

use lumora_hr_mini::server::{Config, Server};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let mut config = Config {
        handle_signals: true,
        ..Config::default()
    };
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let result: Result<(), String> = (|| {
            match arg.as_str() {
                "serve" => {}
                "--host" => {
                    config.host = value("--host")?
                        .parse()
                        .map_err(|e| format!("--host: {e}"))?
                }
                "--port" => {
                    config.port = value("--port")?
                        .parse()
                        .map_err(|e| format!("--port: {e}"))?
                }
                "--strict-port" => config.strict_port = true,
                "--no-qr" => {}
                "--coalesce-ms" => {
                    let ms: u64 = value("--coalesce-ms")?
                        .parse()
                        .map_err(|e| format!("--coalesce-ms: {e}"))?;
                    config.hub.coalesce = Duration::from_millis(ms);
                }
                "--verbose" | "-v" => verbose = true,
                other => return Err(format!("unknown argument {other:?}")),
            }
            Ok(())
        })();
        if let Err(e) = result {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let level = if verbose {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    let _ = simplelog::TermLogger::init(
        level,
        simplelog::Config::default(),
        simplelog::TerminalMode::Stderr,
        simplelog::ColorChoice::Auto,
    );
    let server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen: {e}");
            return ExitCode::from(1);
        }
    };
    let handle = server.handle();
    let addr = server.local_addr();
    let advertised = server.advertised_address().to_string();
    let thread = std::thread::spawn(move || server.run());
    match handle.create_session() {
        Ok(s) => {
            println!("lumora-hr-mini listening on {addr}");
            println!("devices: ws://{advertised}/ws?session={}", s.session_id);
            println!(
                "push:    curl -X POST -H 'Content-Type: application/json' --data @schema.json http://127.0.0.1:{}/send/{}",
                addr.port(),
                s.session_id
            );
        }
        Err(e) => eprintln!("error: cannot create the startup session: {e}"),
    }
    match thread.join() {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(1),
    }
}
