//! Every length a bundle or a trust document declares is checked against
//! these bounds *before* anything is allocated for it, so a hostile file
//! cannot make the host allocate without bound.

/// Bounds on what a bundle, a signed trust-store update or a policy
/// signature may declare. The defaults fit firmware images up to 64 GiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest canonical manifest (its chunk hash list dominates).
    pub max_manifest_bytes: u32,
    /// Largest signature block.
    pub max_signature_block_bytes: u32,
    /// Most signatures on one document.
    pub max_signatures: u16,
    /// Largest single signature (room for post-quantum schemes: ML-DSA-87
    /// signatures are 4,627 bytes).
    pub max_signature_bytes: u16,
    /// Largest SBOM (CycloneDX JSON).
    pub max_sbom_bytes: u32,
    /// Most components listed in an SBOM.
    pub max_sbom_components: usize,
    /// Largest payload.
    pub max_payload_bytes: u64,
    /// Smallest and largest chunk; the chunk size is also the verifier's buffer.
    pub min_chunk_bytes: u32,
    pub max_chunk_bytes: u32,
    /// Most chunks (so most chunk hashes in a manifest). The manifest's own
    /// limit, `max_manifest_bytes`, allows fewer with the defaults (about
    /// 131,000: `BundleSpec::max_chunks` says how many exactly).
    pub max_chunks: u32,
    /// Most hardware models a bundle may name.
    pub max_hardware: u8,
    /// Largest signed body of a trust-store update (TOML).
    pub max_trust_store_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 4 << 20,
            max_signature_block_bytes: 64 << 10,
            max_signatures: 16,
            max_signature_bytes: 8 << 10,
            max_sbom_bytes: 8 << 20,
            max_sbom_components: rampart_facts::MAX_LIST_ITEMS,
            max_payload_bytes: 64 << 30,
            min_chunk_bytes: 4 << 10,
            max_chunk_bytes: 16 << 20,
            max_chunks: 1 << 20,
            max_hardware: 64,
            max_trust_store_bytes: 1 << 20,
        }
    }
}
