//! The release's software bill of materials: one text and flat records of
//! spans into it (that shape crosses into a policy at the same cost however
//! many components an image lists), read here as borrowed entries.

use crate::bindings::rampart::policy::types::{Sbom, SbomComponent};

/// One component of an SBOM, borrowing its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SbomEntry<'a> {
    pub name: &'a str,
    pub version: &'a str,
    /// Package URL, empty when unknown.
    pub purl: &'a str,
}

impl Sbom {
    /// An SBOM of these components, in order (for tests and native use;
    /// the host builds the one a policy is given).
    pub fn of<'a>(entries: impl IntoIterator<Item = SbomEntry<'a>>) -> Sbom {
        let mut text = String::new();
        let mut span = |s: &str| crate::device::push(&mut text, s);
        let components = entries
            .into_iter()
            .map(|e| SbomComponent { name: span(e.name), version: span(e.version), purl: span(e.purl) })
            .collect();
        Sbom { text, components }
    }

    /// The components, in the order the release lists them.
    pub fn entries(&self) -> impl Iterator<Item = SbomEntry<'_>> + '_ {
        self.components.iter().map(|c| SbomEntry {
            name: crate::device::span(&self.text, c.name),
            version: crate::device::span(&self.text, c.version),
            purl: crate::device::span(&self.text, c.purl),
        })
    }

    /// The first component named `name`.
    pub fn find(&self, name: &str) -> Option<SbomEntry<'_>> {
        self.entries().find(|e| crate::bytes::same(e.name.as_bytes(), name.as_bytes()))
    }

    /// How many components the SBOM lists.
    pub fn len(&self) -> usize {
        self.components.len()
    }

    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_what_was_written() {
        let entries = [
            SbomEntry { name: "linux", version: "6.6.58", purl: "pkg:generic/linux@6.6.58" },
            SbomEntry { name: "openssl", version: "3.0.15", purl: "" },
            SbomEntry { name: "zlib", version: "1.3.1", purl: "pkg:generic/zlib@1.3.1" },
        ];
        let sbom = Sbom::of(entries);
        assert_eq!(sbom.len(), 3);
        assert_eq!(sbom.entries().collect::<Vec<_>>(), entries);
        assert_eq!(sbom.find("openssl").map(|e| e.version), Some("3.0.15"));
        assert_eq!(sbom.find("busybox"), None);
        assert!(Sbom::of([]).is_empty());
    }
}
