//! Veeam's Smart Object Storage API (SOSAPI): two well-known objects in a bucket through which
//! Veeam Backup & Replication learns what the storage is and how much room it has.
//!
//! - `.system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/system.xml`: the protocol version, the model
//!   name, the capabilities (`CapacityInfo`: whether `capacity.xml` exists) and recommendations
//!   (concurrent tasks, the DeleteObjects limit, the block size Veeam should write).
//! - `.system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/capacity.xml`: `Capacity`, `Available` and
//!   `Used`, in bytes.
//!
//! The gateway answers GET and HEAD of these keys with documents it makes from the backend's
//! real figures when no object is stored there (a stored object wins: an operator may put a
//! `system.xml` of their own). This module only renders; the server decides when.
//!
//! ```
//! use s3gate_protocol::sosapi::{Capacity, SosapiObject, capacity_xml};
//!
//! let key = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/capacity.xml";
//! assert_eq!(SosapiObject::from_key(key), Some(SosapiObject::Capacity));
//! let xml = capacity_xml(Capacity { total: 100, available: 60 });
//! assert!(xml.contains("<Capacity>100</Capacity><Available>60</Available><Used>40</Used>"));
//! ```

/// The folder of the SOSAPI objects (a fixed UUID of the specification).
pub const SOSAPI_FOLDER: &str = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/";
/// Veeam's block size recommendation, in KiB: 4 MiB objects rather than the default 1 MiB
/// quarter the number of objects (and requests) a backup makes.
pub const BLOCK_SIZE_KB: u32 = 4096;
/// Concurrent tasks recommended to Veeam per repository.
pub const CONCURRENT_TASKS: u32 = 64;
/// Keys per DeleteObjects request (S3's limit, which the gateway enforces).
pub const MULTI_OBJECT_DELETE_LIMIT: u32 = 1000;

/// One of the two SOSAPI objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SosapiObject {
    /// `system.xml`.
    System,
    /// `capacity.xml`.
    Capacity,
}

impl SosapiObject {
    /// Which SOSAPI object a key names, if any (exact match, case-sensitive).
    pub fn from_key(key: &str) -> Option<Self> {
        match key.strip_prefix(SOSAPI_FOLDER)? {
            "system.xml" => Some(Self::System),
            "capacity.xml" => Some(Self::Capacity),
            _ => None,
        }
    }
}

/// The space behind a bucket, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// All of it.
    pub total: u64,
    /// What writes may still use.
    pub available: u64,
}

/// `system.xml`: `capacity` says whether `capacity.xml` is served (the backend knows its
/// space); `model` names the gateway and its version.
pub fn system_xml(model: &str, capacity: bool) -> String {
    let model = crate::xml::escape(model);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SystemInfo>\
         <ProtocolVersion>\"1.0\"</ProtocolVersion>\
         <ModelName>\"{model}\"</ModelName>\
         <ProtocolCapabilities><CapacityInfo>{capacity}</CapacityInfo>\
         <UploadSessions>false</UploadSessions><IAMSTS>false</IAMSTS></ProtocolCapabilities>\
         <SystemRecommendations><S3ConcurrentTaskLimit>{CONCURRENT_TASKS}</S3ConcurrentTaskLimit>\
         <S3MultiObjectDeleteLimit>{MULTI_OBJECT_DELETE_LIMIT}</S3MultiObjectDeleteLimit>\
         <KbBlockSize>{BLOCK_SIZE_KB}</KbBlockSize></SystemRecommendations>\
         </SystemInfo>"
    )
}

/// `capacity.xml`: `Used` is what is not available (the space the blobs and whatever shares
/// the filesystem take, and the gateway's free-space reserve).
pub fn capacity_xml(c: Capacity) -> String {
    let used = c.total.saturating_sub(c.available);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CapacityInfo><Capacity>{}</Capacity>\
         <Available>{}</Available><Used>{used}</Used></CapacityInfo>",
        c.total,
        c.available.min(c.total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let cases = [
            (".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/system.xml", Some(SosapiObject::System)),
            (
                ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/capacity.xml",
                Some(SosapiObject::Capacity),
            ),
            (".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/", None),
            (".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/System.xml", None),
            (".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/system.xml/", None),
            ("a/.system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/system.xml", None),
            ("system.xml", None),
        ];
        for (key, want) in cases {
            assert_eq!(SosapiObject::from_key(key), want, "{key}");
        }
    }

    #[test]
    fn system_document() {
        let xml = system_xml("s3gate 0.1.0", true);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SystemInfo>"));
        for part in [
            "<ProtocolVersion>\"1.0\"</ProtocolVersion>",
            "<ModelName>\"s3gate 0.1.0\"</ModelName>",
            "<CapacityInfo>true</CapacityInfo>",
            "<UploadSessions>false</UploadSessions>",
            "<IAMSTS>false</IAMSTS>",
            "<S3MultiObjectDeleteLimit>1000</S3MultiObjectDeleteLimit>",
            "<KbBlockSize>4096</KbBlockSize>",
        ] {
            assert!(xml.contains(part), "{part} missing from {xml}");
        }
        assert!(system_xml("x", false).contains("<CapacityInfo>false</CapacityInfo>"));
        assert!(system_xml("a<b", false).contains("<ModelName>\"a&lt;b\"</ModelName>"));
    }

    #[test]
    fn capacity_document() {
        let xml = capacity_xml(Capacity { total: 1000, available: 250 });
        assert!(xml.ends_with(
            "<CapacityInfo><Capacity>1000</Capacity><Available>250</Available>\
             <Used>750</Used></CapacityInfo>"
        ));
        // More available than the total (a filesystem that reports so) never goes negative.
        let odd = capacity_xml(Capacity { total: 10, available: 20 });
        assert!(odd.contains("<Available>10</Available><Used>0</Used>"), "{odd}");
    }
}
