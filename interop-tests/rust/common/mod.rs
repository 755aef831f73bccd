//! What the Rust interop tests share: running a test inside its own network namespace, and a participant
//! pinned to loopback there.

use starling::dds::DomainParticipant;
use std::process::Command;

const NETNS_ENV: &str = "STARLING_IN_NETNS";

/// Returns true when the caller should run the test body (inside the namespace); otherwise re-executes this
/// test binary for test `name` alone in a fresh network namespace (`unshare -n`, needs root) where `lo` is the
/// only interface, and asserts it passed.
pub fn in_netns(name: &str) -> bool {
    if std::env::var_os(NETNS_ENV).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let script = "ip link set lo up && ip link set lo multicast on && ip route add 239.0.0.0/8 dev lo \
                  && exec \"$0\" \"$@\"";
    let status = Command::new("unshare")
        .args(["-n", "sh", "-c", script])
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1", "--include-ignored"])
        .env(NETNS_ENV, "1")
        .status()
        .expect("running unshare (root needed)");
    assert!(status.success(), "{name} failed inside its network namespace: {status}");
    false
}

/// A participant on domain 0 bound to `lo`.
#[allow(dead_code)] // not every test binary needs one
pub fn lo_participant(name: &str) -> DomainParticipant {
    DomainParticipant::builder(0).interface("lo").name(name).build().expect("participant on lo")
}
