//! Rampart at the edge: the gateway agent. This crate grows layer by layer;
//! it holds now the A/B slot layer (`slot`): writing a verified bundle's
//! payload into the inactive slot, chunk by chunk, never touching the booted
//! one, then reading the slot back and checking it whole.

pub mod slot;
