//! Local facts from fake sysfs/procfs trees shaped like real ones.

use rampart_agent::sysfacts::{LinkOverride, Sources, link, power, uptime_secs};
use rampart_facts::LinkKind;
use std::collections::BTreeMap;
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn sources(root: &Path) -> Sources {
    std::fs::create_dir_all(root.join("power_supply")).unwrap();
    std::fs::create_dir_all(root.join("net")).unwrap();
    Sources {
        power_supply: root.join("power_supply"),
        net: root.join("net"),
        route: root.join("route"),
        uptime: root.join("uptime"),
    }
}

const ROUTE_HEADER: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

#[test]
fn power_reads_the_lowest_battery_and_any_online_supply() {
    let d = tempfile::tempdir().unwrap();
    let s = sources(d.path());
    assert_eq!(power(&s).unwrap(), rampart_facts::Power { battery_percent: None, on_mains: false });
    write(d.path(), "power_supply/BAT0/type", "Battery\n");
    write(d.path(), "power_supply/BAT0/capacity", "81\n");
    write(d.path(), "power_supply/BAT1/type", "Battery\n");
    write(d.path(), "power_supply/BAT1/capacity", "34\n");
    write(d.path(), "power_supply/BAT2/type", "Battery\n");
    write(d.path(), "power_supply/BAT2/present", "0\n");
    write(d.path(), "power_supply/AC/type", "Mains\n");
    write(d.path(), "power_supply/AC/online", "0\n");
    assert_eq!(power(&s).unwrap(), rampart_facts::Power { battery_percent: Some(34), on_mains: false });
    write(d.path(), "power_supply/usb/type", "USB\n");
    write(d.path(), "power_supply/usb/online", "1\n");
    assert!(power(&s).unwrap().on_mains);
    write(d.path(), "power_supply/BAT1/capacity", "140\n");
    let e = power(&s).unwrap_err().to_string();
    assert!(e.contains("BAT1/capacity: `140` is not 0..=100"), "{e}");
    std::fs::remove_file(d.path().join("power_supply/BAT1/capacity")).unwrap();
    assert!(power(&s).is_err(), "a battery that cannot be read is an error, never full");
}

#[test]
fn the_uplink_is_the_default_routes_interface_classified_by_sysfs_and_configuration() {
    let d = tempfile::tempdir().unwrap();
    let s = sources(d.path());
    let none = BTreeMap::new();
    let l = link(&s, &none).unwrap();
    assert_eq!((l.kind, l.metered), (LinkKind::Unknown, true), "no uplink: unknown and treated as metered");

    write(d.path(), "net/lo/operstate", "unknown\n");
    write(d.path(), "net/eth0/type", "1\n");
    write(d.path(), "net/eth0/operstate", "up\n");
    write(d.path(), "net/wlan0/type", "1\n");
    write(d.path(), "net/wlan0/operstate", "up\n");
    std::fs::create_dir_all(d.path().join("net/wlan0/wireless")).unwrap();
    write(d.path(), "net/wwan0/type", "519\n");
    write(d.path(), "net/wwan0/operstate", "up\n");
    // No route table: the first interface that is up.
    let l = link(&s, &none).unwrap();
    assert_eq!((l.kind, l.metered), (LinkKind::Ethernet, false));

    let route =
        |iface: &str| format!("{ROUTE_HEADER}{iface}\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n");
    write(d.path(), "route", &route("wlan0"));
    assert_eq!(link(&s, &none).unwrap().kind, LinkKind::Wifi);
    write(d.path(), "route", &route("wwan0"));
    let l = link(&s, &none).unwrap();
    assert_eq!((l.kind, l.metered), (LinkKind::Cellular, true));

    // A satellite terminal looks like Ethernet to sysfs: configuration says.
    write(d.path(), "route", &route("eth0"));
    let mut o = BTreeMap::new();
    o.insert("eth0".to_string(), LinkOverride { kind: Some(LinkKind::Satellite), metered: None });
    let l = link(&s, &o).unwrap();
    assert_eq!((l.kind, l.metered), (LinkKind::Satellite, true));
    o.insert("eth0".to_string(), LinkOverride { kind: None, metered: Some(true) });
    let l = link(&s, &o).unwrap();
    assert_eq!((l.kind, l.metered), (LinkKind::Ethernet, true));
}

#[test]
fn uptime_is_the_first_field_of_proc_uptime() {
    let d = tempfile::tempdir().unwrap();
    let s = sources(d.path());
    write(d.path(), "uptime", "35471.92 69033.57\n");
    assert_eq!(uptime_secs(&s).unwrap(), 35471);
    write(d.path(), "uptime", "soon 1\n");
    assert!(uptime_secs(&s).unwrap_err().to_string().contains("`soon` is not a number of seconds"));
}

#[test]
fn this_machine_reads_without_error() {
    let s = Sources::default();
    power(&s).unwrap();
    link(&s, &BTreeMap::new()).unwrap();
    assert!(uptime_secs(&s).unwrap() > 0);
}
