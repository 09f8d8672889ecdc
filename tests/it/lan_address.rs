//! The LAN address in the banner, tested for real: the binary runs in a
//! network namespace of our own holding dummy (or veth) interfaces named
//! like Wi-Fi, Ethernet, Docker, VirtualBox and VPN adapters. Where
//! namespaces cannot be created (not root, no `ip`), the test says so and
//! does nothing; the ranking itself is unit-tested in `net.rs`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::BIN;

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn create() -> Option<Netns> {
        let name = format!("lumora-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let made = Command::new("ip")
            .args(["netns", "add", &name])
            .stderr(Stdio::piped())
            .output();
        match made {
            Ok(o) if o.status.success() => Some(Netns(name)),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot create a network namespace ({}); the LAN address is only unit-tested",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run `ip` ({e}); the LAN address is only unit-tested");
                None
            }
        }
    }

    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip")
            .args(["-n", &self.0])
            .args(args)
            .output()
            .expect("ip");
        assert!(
            out.status.success(),
            "ip -n {} {}: {}",
            self.0,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// An interface with one address: a dummy one where the kernel has
    /// them, else one end of a veth pair (the other end gets no address).
    fn interface(&self, name: &str, cidr: &str) {
        let dummy = Command::new("ip")
            .args(["-n", &self.0, "link", "add", name, "type", "dummy"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !dummy {
            let peer = format!(
                "p{}",
                uuid::Uuid::new_v4()
                    .simple()
                    .to_string()
                    .get(..8)
                    .unwrap_or("0")
            );
            self.ip(&["link", "add", name, "type", "veth", "peer", "name", &peer]);
        }
        self.ip(&["addr", "add", cidr, "dev", name]);
        self.ip(&["link", "set", name, "up"]);
    }

    /// Starts the server inside; returns its banner up to the push line.
    fn banner(&self, extra: &[&str]) -> String {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, BIN, "--port", "0", "--no-qr"])
            .args(extra)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ip netns exec");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut text = String::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(15)) {
                Ok(line) => {
                    let done = line.trim_start().starts_with("Push");
                    text.push_str(&line);
                    text.push('\n');
                    if done {
                        break;
                    }
                }
                Err(_) => panic!("no banner:\n{text}"),
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        text
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn devices_host(banner: &str) -> String {
    let url = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("Devices    ws://"))
        .unwrap_or_else(|| panic!("no Devices line:\n{banner}"));
    url.split(':').next().unwrap_or("").to_string()
}

fn network_lines(banner: &str) -> Vec<String> {
    banner
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Network"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn the_qr_code_holds_a_physical_adapter_not_docker_virtualbox_or_a_vpn() {
    let Some(ns) = Netns::create() else { return };
    ns.ip(&["link", "set", "lo", "up"]);
    // Listed by the OS in this order; the virtual ones first, to be sure
    // the order alone does not decide.
    ns.interface("docker0", "172.17.0.1/16");
    ns.interface("vboxnet0", "192.168.56.1/24");
    ns.interface("veth9f3a", "10.99.0.1/24");
    ns.interface("tailscale0", "100.101.102.103/32");
    ns.interface("eth0", "10.20.0.5/24");
    ns.interface("wlan0", "192.168.50.2/24");

    let banner = ns.banner(&[]);
    assert_eq!(devices_host(&banner), "192.168.50.2", "{banner}");
    assert_eq!(
        network_lines(&banner),
        [
            "192.168.50.2 (wlan0) in the URLs above and the QR code",
            "10.20.0.5 (eth0) --public-host 10.20.0.5 to use this one",
        ],
        "{banner}"
    );

    // --public-host overrides, and then no candidates are listed.
    let banner = ns.banner(&["--public-host", "dev.local"]);
    assert_eq!(devices_host(&banner), "dev.local", "{banner}");
    assert!(network_lines(&banner).is_empty(), "{banner}");
}

#[test]
fn one_adapter_beside_virtual_ones_needs_no_network_lines() {
    let Some(ns) = Netns::create() else { return };
    ns.ip(&["link", "set", "lo", "up"]);
    ns.interface("br-5e1c0ffee", "172.18.0.1/16");
    ns.interface("virbr0", "192.168.122.1/24");
    ns.interface("enp3s0", "172.16.5.20/24");
    let banner = ns.banner(&[]);
    assert_eq!(devices_host(&banner), "172.16.5.20", "{banner}");
    assert!(network_lines(&banner).is_empty(), "{banner}");
}
