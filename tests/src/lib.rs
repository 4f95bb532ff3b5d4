//! Shared pieces of the integration tests: the guest policies built by
//! `build.rs` and ready-made facts.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

use rampart_facts::{
    Channel, Credential, Device, GeoPoint, Hardware, Link, LinkKind, Location, PayloadKind, Power, Release, Rollout,
    SbomComponent, Timestamp, UpdateHistory, Version,
};

/// 2026-11-24T02:30:00Z: inside staged-rollout's window for UTC+1 devices.
pub const NOW: Timestamp = Timestamp(1_763_951_400 + 365 * 86_400);

/// A healthy, well-placed device with the given id.
pub fn device(id: &str) -> Device {
    Device {
        id: id.into(),
        hardware: Hardware { model: "gw-4000".into(), revision: "b2".into() },
        firmware: Version::parse("4.1.0").unwrap(),
        security_counter: 7,
        location: Location { country: "DE".into(), geo: Some(GeoPoint { lat: 52.52, lon: 13.405 }) },
        credential: Credential {
            not_after: Timestamp(NOW.0 + 200 * 86_400),
            revoked: false,
            last_attestation: Some(Timestamp(NOW.0 - 3_600)),
        },
        power: Power { battery_percent: Some(80), on_mains: false },
        link: Link { kind: LinkKind::Ethernet, metered: false, signal_quality: None },
        utc_offset_minutes: 60,
        uptime_secs: 86_400,
        updates: UpdateHistory::default(),
        labels: [("site".to_string(), "berlin".to_string())].into(),
    }
}

/// A feature release for `gw-4000`.
pub fn release() -> Release {
    Release {
        id: "fw-4.2.0".into(),
        version: Version::parse("4.2.0").unwrap(),
        security_counter: 8,
        channel: Channel::Feature,
        payload_kind: PayloadKind::Full,
        payload_size: 32 << 20,
        compatible_hardware: vec!["gw-4000".into()],
        sbom: vec![SbomComponent {
            name: "linux".into(),
            version: "6.6.58".into(),
            purl: "pkg:generic/linux@6.6.58".into(),
        }],
        released_at: Timestamp(NOW.0 - 5 * 86_400),
    }
}

/// A rollout that started a week before [`NOW`] (every wave open).
pub fn rollout() -> Rollout {
    Rollout { id: "r1".into(), started_at: Timestamp(NOW.0 - 7 * 86_400), now: Some(NOW), waves: Vec::new() }
}

/// A local HTTP endpoint on a free loopback port that answers every request
/// with `status` and an empty body; its URL (`http://127.0.0.1:PORT/health`).
/// It serves until the test process ends.
pub fn http_status_server(status: u16) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = write!(conn, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    format!("http://{addr}/health")
}
