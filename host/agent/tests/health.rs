//! Health probes: commands, HTTP health URLs and systemd units, each
//! bounded by its timeout; a probe that cannot run has failed.

use rampart_agent::health::{Check, Probe, run};
use std::path::Path;

fn probe(name: &str, check: Check, timeout_secs: u64) -> Probe {
    Probe { name: name.into(), critical: true, timeout_secs, check }
}

fn cmd(args: &[&str]) -> Check {
    Check::Command(args.iter().map(|s| s.to_string()).collect())
}

/// A local TCP endpoint that accepts and never answers.
fn silent() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let _held: Vec<_> = listener.incoming().map_while(Result::ok).collect();
    });
    format!("http://{addr}/health")
}

#[tokio::test]
async fn each_kind_of_probe_passes_and_fails_for_the_right_reason() {
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/health", l.local_addr().unwrap())
    };
    let probes = [
        probe("echo", cmd(&["sh", "-c", "echo fine"]), 5),
        probe("exit-3", cmd(&["sh", "-c", "echo broken >&2; exit 3"]), 5),
        probe("missing", cmd(&["/nonexistent/selftest"]), 5),
        probe("slow", cmd(&["sleep", "30"]), 1),
        probe("http-ok", Check::Http(rampart_tests::http_status_server(204)), 5),
        probe("http-503", Check::Http(rampart_tests::http_status_server(503)), 5),
        probe("http-refused", Check::Http(refused), 5),
        probe("http-silent", Check::Http(silent()), 1),
        probe("unit", Check::Systemd("rampart-test-nonexistent.service".into()), 5),
    ];
    let found = run(&probes, Path::new("/run/systemd/system")).await;
    let by_name = |n: &str| found.probes.iter().find(|p| p.name == n).unwrap_or_else(|| panic!("{n}"));
    assert!(by_name("echo").passed);
    assert_eq!(by_name("echo").detail, "fine");
    assert!(!by_name("exit-3").passed);
    assert!(by_name("exit-3").detail.contains("broken"), "{:?}", by_name("exit-3"));
    assert!(!by_name("missing").passed);
    assert!(by_name("missing").detail.contains("/nonexistent/selftest"));
    assert!(!by_name("slow").passed);
    assert!(by_name("slow").detail.contains("no answer within 1 s"));
    assert!(by_name("http-ok").passed, "{:?}", by_name("http-ok"));
    assert!(!by_name("http-503").passed);
    assert!(by_name("http-503").detail.contains("503"));
    assert!(!by_name("http-refused").passed);
    assert!(!by_name("http-silent").passed);
    // No such unit, whether or not systemd runs here: failed, and reported
    // as a failed service too.
    assert!(!by_name("unit").passed);
    assert_eq!(found.failed_services.len(), 1);
    assert_eq!(found.failed_services[0].name, "rampart-test-nonexistent");
    assert!(found.failed_services[0].critical);
    // The results keep the configured order.
    let names: Vec<_> = found.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, probes.iter().map(|p| p.name.as_str()).collect::<Vec<_>>());
}

#[tokio::test]
async fn without_systemd_a_unit_probe_fails_saying_so() {
    let probes = [probe("unit", Check::Systemd("app.service".into()), 5)];
    let found = run(&probes, Path::new("/nonexistent/run/systemd/system")).await;
    assert!(!found.probes[0].passed);
    assert!(found.probes[0].detail.contains("systemd is not running"), "{:?}", found.probes[0]);
}

#[test]
fn a_probe_configuration_is_checked() {
    let bad = [
        probe("Bad Name", cmd(&["true"]), 5),
        probe("ok", cmd(&[]), 5),
        probe("ok", Check::Http("https://example.com/".into()), 5),
        probe("ok", cmd(&["true"]), 0),
        probe("ok", cmd(&["true"]), 100_000),
    ];
    for p in bad {
        assert!(p.validate().is_err(), "{p:?}");
    }
    assert!(probe("app-1", cmd(&["true"]), 10).validate().is_ok());
}
