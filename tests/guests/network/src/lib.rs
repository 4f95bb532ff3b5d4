//! A policy that tries to phone home. Using `std::net` makes the component
//! import `wasi:sockets`, which the host refuses at load.

use rampart_sdk::*;

pub struct PhoneHome;

impl Policy for PhoneHome {
    fn eligibility(_rollout: &Rollout, _release: &Release, device: &Device) -> Eligibility {
        match std::net::TcpStream::connect("127.0.0.1:9") {
            Ok(_) => deny("connected", format!("{} reached the network", device.id)),
            Err(_) => Eligibility::Allow,
        }
    }
}

export_policy!(PhoneHome);
