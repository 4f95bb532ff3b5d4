//! Host-side bindings generated from `wit/policy.wit`. Nothing else lives here.
wasmtime::component::bindgen!({
    world: "policy",
    path: "../../wit",
    // Debug builds compare the answers the host reads itself with
    // wasmtime's lifting of them (`batch::Answers`).
    additional_derives: [PartialEq],
});
