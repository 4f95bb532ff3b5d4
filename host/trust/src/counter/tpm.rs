//! The anti-rollback counter as a TPM 2.0 NV counter index.
