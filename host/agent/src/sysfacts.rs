//! Fresh local facts for the eligibility question, read from the places
//! Linux keeps them: battery and mains from `/sys/class/power_supply`, the
//! uplink from `/sys/class/net` and the default route in `/proc/net/route`,
//! uptime from `/proc/uptime`. Every path can be pointed elsewhere (tests
//! use fake trees). What sysfs cannot tell — that a modem is a satellite
//! terminal, that a link is metered — comes from configuration, per
//! interface.
//!
//! Unreadable sources are errors, never optimistic guesses: "no battery" is
//! reported only when no battery exists, and a battery whose charge cannot
//! be read is an error, never 100 %. A missing class directory means the
//! kernel has no such devices. Without an uplink, the link is `unknown` and
//! metered.

use rampart_facts::{Link, LinkKind, Power};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the facts are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    pub power_supply: PathBuf,
    pub net: PathBuf,
    pub route: PathBuf,
    pub uptime: PathBuf,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            power_supply: "/sys/class/power_supply".into(),
            net: "/sys/class/net".into(),
            route: "/proc/net/route".into(),
            uptime: "/proc/uptime".into(),
        }
    }
}

/// What configuration says about an interface, overriding what sysfs shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkOverride {
    pub kind: Option<LinkKind>,
    pub metered: Option<bool>,
}

/// A source that could not be read or made no sense.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {cause}")]
pub struct SourceError {
    pub path: String,
    pub cause: String,
}

fn err(path: &Path, cause: impl Into<String>) -> SourceError {
    SourceError { path: path.display().to_string(), cause: cause.into() }
}

fn read_trimmed(path: &Path) -> Result<String, SourceError> {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).map_err(|e| err(path, e.to_string()))
}

fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, SourceError> {
    let mut out = Vec::new();
    let list = match std::fs::read_dir(dir) {
        Ok(list) => list,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(err(dir, e.to_string())),
    };
    for e in list {
        let e = e.map_err(|e| err(dir, e.to_string()))?;
        out.push((e.file_name().to_string_lossy().into_owned(), e.path()));
    }
    out.sort();
    Ok(out)
}

/// Battery charge (the lowest of all batteries) and whether any external
/// supply (mains, USB, …) is online.
pub fn power(sources: &Sources) -> Result<Power, SourceError> {
    let mut battery: Option<u8> = None;
    let mut on_mains = false;
    for (_, dir) in entries(&sources.power_supply)? {
        let kind = read_trimmed(&dir.join("type"))?;
        if kind == "Battery" {
            if read_trimmed(&dir.join("present")).is_ok_and(|p| p == "0") {
                continue;
            }
            let path = dir.join("capacity");
            let text = read_trimmed(&path)?;
            let pct: u8 = text
                .parse()
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| err(&path, format!("`{text}` is not 0..=100")))?;
            battery = Some(battery.map_or(pct, |b| b.min(pct)));
        } else if read_trimmed(&dir.join("online")).is_ok_and(|o| o == "1") {
            on_mains = true;
        }
    }
    Ok(Power { battery_percent: battery, on_mains })
}

/// The interface of the IPv4 default route, if any.
fn default_route(path: &Path) -> Result<Option<String>, SourceError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(path, e.to_string())),
    };
    // Iface Destination Gateway Flags …; a default route has destination 0
    // and mask 0, and is up (flag 0x1).
    Ok(text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let up = f.get(3).and_then(|x| u32::from_str_radix(x, 16).ok()).is_some_and(|fl| fl & 1 == 1);
        (f.len() > 7 && f[1] == "00000000" && f[7] == "00000000" && up).then(|| f[0].to_string())
    }))
}

/// What kind of link sysfs says `dir` is.
fn kind_of(name: &str, dir: &Path) -> LinkKind {
    if dir.join("wireless").exists() || dir.join("phy80211").exists() {
        return LinkKind::Wifi;
    }
    let driver = std::fs::read_link(dir.join("device/driver"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let cellular_driver = ["qmi_wwan", "cdc_mbim", "cdc_ether_wwan", "option", "mhi_net", "ipheth"];
    if name.starts_with("wwan") || name.starts_with("rmnet") || cellular_driver.contains(&driver.as_str()) {
        return LinkKind::Cellular;
    }
    match read_trimmed(&dir.join("type")).ok().as_deref() {
        Some("1") => LinkKind::Ethernet,   // ARPHRD_ETHER
        Some("519") => LinkKind::Cellular, // ARPHRD_RAWIP (modems)
        _ => LinkKind::Unknown,
    }
}

/// The active uplink: the default route's interface, else the first
/// interface that is up (loopback aside). Overrides from configuration win
/// over what sysfs shows; cellular and satellite links are metered unless
/// configured otherwise.
pub fn link(sources: &Sources, overrides: &BTreeMap<String, LinkOverride>) -> Result<Link, SourceError> {
    let up = |dir: &Path| read_trimmed(&dir.join("operstate")).is_ok_and(|s| s == "up");
    let interfaces = entries(&sources.net)?;
    let by_route = default_route(&sources.route)?;
    let chosen = by_route
        .and_then(|name| interfaces.iter().find(|(n, _)| *n == name).cloned())
        .or_else(|| interfaces.iter().find(|(n, d)| n != "lo" && up(d)).cloned());
    let Some((name, dir)) = chosen else {
        return Ok(Link { kind: LinkKind::Unknown, metered: true, signal_quality: None });
    };
    let o = overrides.get(&name).cloned().unwrap_or_default();
    let kind = o.kind.unwrap_or_else(|| kind_of(&name, &dir));
    let metered = o.metered.unwrap_or(matches!(kind, LinkKind::Cellular | LinkKind::Satellite | LinkKind::Unknown));
    Ok(Link { kind, metered, signal_quality: None })
}

/// Seconds since boot, from the first field of `/proc/uptime`.
pub fn uptime_secs(sources: &Sources) -> Result<u64, SourceError> {
    let text = read_trimmed(&sources.uptime)?;
    let first = text.split_whitespace().next().unwrap_or_default();
    first
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| s as u64)
        .ok_or_else(|| err(&sources.uptime, format!("`{first}` is not a number of seconds")))
}
