//! A policy built for `rampart:policy@9.0.0`, which this host does not support.

wit_bindgen::generate!({ world: "policy", path: "wit" });

struct Future;

impl exports::rampart::policy::questions::Guest for Future {
    fn eligibility(device_id: String) -> bool {
        !device_id.is_empty()
    }
}

#[cfg(target_arch = "wasm32")]
export!(Future);
