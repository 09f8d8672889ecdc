//! Starting a server raises the soft open-file limit to the hard limit, so
//! the default 10,000 connections are not cut short at 1,024. Its own test
//! binary: it changes a process-wide limit.

use lumora_hr_mini::server::{Config, Server};

fn nofile() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct passed.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

#[test]
fn binding_raises_the_soft_open_file_limit_to_the_hard_limit() {
    let before = nofile();
    let lowered = libc::rlimit {
        rlim_cur: before.rlim_max.min(256),
        rlim_max: before.rlim_max,
    };
    // SAFETY: setrlimit reads only the struct passed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
    let server = Server::bind(Config {
        host: "127.0.0.1".parse().unwrap(),
        port: 0,
        ..Config::default()
    })
    .unwrap();
    let after = nofile();
    eprintln!(
        "open-file limit: soft {} -> {} (hard {})",
        lowered.rlim_cur, after.rlim_cur, after.rlim_max
    );
    assert_eq!(after.rlim_max, before.rlim_max);
    if cfg!(target_os = "linux") {
        assert_eq!(after.rlim_cur, after.rlim_max);
    } else {
        assert!(after.rlim_cur > lowered.rlim_cur || lowered.rlim_cur == after.rlim_max);
    }
    drop(server);
}
