//! Raw bindings generated from `wit/policy.wit`. Policy authors use the
//! re-exports at the crate root instead.
wit_bindgen::generate!({
    world: "policy",
    path: "../wit",
    pub_export_macro: true,
    export_macro_name: "__export_policy_world",
    default_bindings_module: "rampart_sdk::bindings",
    additional_derives: [PartialEq, Clone],
    // Exported by hand, reading the batch in place: see `batch`.
    skip: ["eligibility-batch"],
});
