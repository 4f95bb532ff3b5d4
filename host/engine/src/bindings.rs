//! Host-side bindings generated from `wit/policy.wit`. Nothing else lives here.
wasmtime::component::bindgen!({
    world: "policy",
    path: "../../wit",
});
