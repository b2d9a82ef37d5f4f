//! The ACL and Object Ownership bodies: `AccessControlPolicy` (Put/GetBucketAcl,
//! Put/GetObjectAcl) and `OwnershipControls` (Put/GetBucketOwnershipControls), as plain data.
//!
//! What a grant means (permissions, groups, who may hold what) is `s3gate-policy`'s; this
//! module only reads and writes the XML, so a body that parses may still name an unknown
//! permission or group (the server converts and refuses those).

use crate::error::{ErrorCode, S3Error};
use crate::xml::{Element, Writer, parse_document};

/// Largest AccessControlPolicy body accepted (100 grants fit many times over).
pub const MAX_ACL_BODY: usize = 64 * 1024;

/// The `xsi` namespace a `Grantee` declares for its `xsi:type`.
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Who a grant of the XML names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclGrantee {
    /// `xsi:type="CanonicalUser"` with its `ID`.
    CanonicalUser(String),
    /// `xsi:type="Group"` with its `URI`.
    Group(String),
    /// `xsi:type="AmazonCustomerByEmail"` with its `EmailAddress`.
    Email(String),
}

/// One `Grant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclGrant {
    /// Who.
    pub grantee: AclGrantee,
    /// `Permission` as sent (`READ`, `WRITE`, `READ_ACP`, `WRITE_ACP`, `FULL_CONTROL`).
    pub permission: String,
}

/// An `AccessControlPolicy` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessControlPolicy {
    /// `Owner/ID` (a request may leave the owner out; AWS then keeps the current one).
    pub owner: Option<String>,
    /// `AccessControlList/Grant`, in order.
    pub grants: Vec<AclGrant>,
}

fn malformed_acl() -> S3Error {
    S3Error::new(ErrorCode::MalformedACLError)
}

/// The one child called `name`; twice is `MalformedACLError`.
fn child<'a>(el: &'a Element, name: &str) -> Result<Option<&'a Element>, S3Error> {
    el.child(name).map_err(|_| malformed_acl())
}

impl AccessControlPolicy {
    /// Parses a PutBucketAcl/PutObjectAcl body: anything that is not a well-formed
    /// `AccessControlPolicy` with typed grantees is `MalformedACLError`, as on AWS.
    pub fn parse(body: &[u8]) -> Result<Self, S3Error> {
        let root = parse_document(body, MAX_ACL_BODY).map_err(|_| malformed_acl())?;
        if root.name != "AccessControlPolicy" {
            return Err(malformed_acl());
        }
        let owner = match child(&root, "Owner")? {
            Some(o) => {
                Some(child(o, "ID")?.map(|i| i.text.trim().to_owned()).ok_or_else(malformed_acl)?)
            }
            None => None,
        };
        let list = child(&root, "AccessControlList")?.ok_or_else(malformed_acl)?;
        let mut grants = Vec::new();
        for grant in &list.children {
            if grant.name != "Grant" {
                return Err(malformed_acl());
            }
            let grantee = child(grant, "Grantee")?.ok_or_else(malformed_acl)?;
            let text = |name: &str| -> Result<String, S3Error> {
                let t = child(grantee, name)?.map(|e| e.text.trim().to_owned());
                t.filter(|t| !t.is_empty()).ok_or_else(malformed_acl)
            };
            let grantee = match grantee.attr("type") {
                Some("CanonicalUser") => AclGrantee::CanonicalUser(text("ID")?),
                Some("Group") => AclGrantee::Group(text("URI")?),
                Some("AmazonCustomerByEmail") => AclGrantee::Email(text("EmailAddress")?),
                _ => return Err(malformed_acl()),
            };
            let permission = child(grant, "Permission")?.ok_or_else(malformed_acl)?;
            grants.push(AclGrant { grantee, permission: permission.text.trim().to_owned() });
        }
        Ok(AccessControlPolicy { owner, grants })
    }

    /// The GetBucketAcl/GetObjectAcl body. A canonical user's display name is its id, as the
    /// `Owner` of listings reports it.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "AccessControlPolicy";
        let mut w = Writer::new(ROOT);
        if let Some(owner) = &self.owner {
            w.open("Owner");
            w.elem("ID", owner);
            w.elem("DisplayName", owner);
            w.close("Owner");
        }
        w.open("AccessControlList");
        for g in &self.grants {
            w.open("Grant");
            let (kind, name, value) = match &g.grantee {
                AclGrantee::CanonicalUser(id) => ("CanonicalUser", "ID", id),
                AclGrantee::Group(uri) => ("Group", "URI", uri),
                AclGrantee::Email(e) => ("AmazonCustomerByEmail", "EmailAddress", e),
            };
            w.out.push_str("<Grantee xmlns:xsi=\"");
            w.out.push_str(XSI);
            w.out.push_str("\" xsi:type=\"");
            w.out.push_str(kind);
            w.out.push_str("\">");
            w.elem(name, value);
            if let AclGrantee::CanonicalUser(id) = &g.grantee {
                w.elem("DisplayName", id);
            }
            w.close("Grantee");
            w.elem("Permission", &g.permission);
            w.close("Grant");
        }
        w.close("AccessControlList");
        w.finish(ROOT)
    }
}

/// Parses a PutBucketOwnershipControls body: exactly one `Rule` with one `ObjectOwnership`
/// of the three values; anything else is `MalformedXML`, as on AWS.
pub fn parse_ownership_controls(body: &[u8]) -> Result<&'static str, S3Error> {
    let malformed = || S3Error::new(ErrorCode::MalformedXML);
    let root = parse_document(body, MAX_ACL_BODY)?;
    if root.name != "OwnershipControls" || root.children.len() != 1 {
        return Err(malformed());
    }
    let rule = root.child("Rule")?.ok_or_else(malformed)?;
    if rule.children.len() != 1 {
        return Err(malformed());
    }
    let value = rule.child("ObjectOwnership")?.ok_or_else(malformed)?;
    ["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"]
        .into_iter()
        .find(|v| *v == value.text.trim())
        .ok_or_else(malformed)
}

/// The GetBucketOwnershipControls body.
pub fn ownership_controls_xml(ownership: &str) -> String {
    const ROOT: &str = "OwnershipControls";
    let mut w = Writer::new(ROOT);
    w.open("Rule");
    w.elem("ObjectOwnership", ownership);
    w.close("Rule");
    w.finish(ROOT)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Owner><ID>alice</ID><DisplayName>alice</DisplayName></Owner>
  <AccessControlList>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">
        <ID>bob</ID><DisplayName>bob</DisplayName></Grantee>
      <Permission>READ</Permission>
    </Grant>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">
        <URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee>
      <Permission>WRITE_ACP</Permission>
    </Grant>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="AmazonCustomerByEmail">
        <EmailAddress>a@b.c</EmailAddress></Grantee>
      <Permission>FULL_CONTROL</Permission>
    </Grant>
  </AccessControlList>
</AccessControlPolicy>"#;

    #[test]
    fn parses_and_round_trips() {
        let acp = AccessControlPolicy::parse(BODY.as_bytes()).unwrap();
        assert_eq!(acp.owner.as_deref(), Some("alice"));
        assert_eq!(
            acp.grants,
            vec![
                AclGrant {
                    grantee: AclGrantee::CanonicalUser("bob".into()),
                    permission: "READ".into()
                },
                AclGrant {
                    grantee: AclGrantee::Group(
                        "http://acs.amazonaws.com/groups/global/AllUsers".into()
                    ),
                    permission: "WRITE_ACP".into()
                },
                AclGrant {
                    grantee: AclGrantee::Email("a@b.c".into()),
                    permission: "FULL_CONTROL".into()
                },
            ]
        );
        let xml = acp.to_xml();
        assert!(xml.contains("xsi:type=\"CanonicalUser\""), "{xml}");
        assert_eq!(AccessControlPolicy::parse(xml.as_bytes()).unwrap(), acp);
        // No owner and no grants is a valid document.
        let empty = "<AccessControlPolicy><AccessControlList/></AccessControlPolicy>";
        let acp = AccessControlPolicy::parse(empty.as_bytes()).unwrap();
        assert_eq!((acp.owner, acp.grants.len()), (None, 0));
    }

    #[test]
    fn refuses_malformed_documents() {
        let grant = |grantee: &str| {
            format!(
                "<AccessControlPolicy><AccessControlList><Grant>{grantee}\
                 <Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"
            )
        };
        for bad in [
            "not xml".to_owned(),
            "<AccessControlPolicy><Owner><ID>a</ID></Owner></AccessControlPolicy>".to_owned(),
            "<Other><AccessControlList/></Other>".to_owned(),
            "<AccessControlPolicy><AccessControlList><Nope/></AccessControlList>\
             </AccessControlPolicy>"
                .to_owned(),
            "<AccessControlPolicy><Owner/><AccessControlList/></AccessControlPolicy>".to_owned(),
            grant("<Grantee><ID>bob</ID></Grantee>"),
            grant(&format!("<Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"Robot\"><ID>b</ID></Grantee>")),
            grant(&format!("<Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"CanonicalUser\"></Grantee>")),
            "<AccessControlPolicy><AccessControlList><Grant><Grantee xmlns:xsi=\"x\" \
             xsi:type=\"Group\"><URI>u</URI></Grantee></Grant></AccessControlList>\
             </AccessControlPolicy>"
                .to_owned(),
        ] {
            let err = AccessControlPolicy::parse(bad.as_bytes()).unwrap_err();
            assert_eq!(err.code, ErrorCode::MalformedACLError, "{bad}");
        }
    }

    #[test]
    fn ownership_controls() {
        for v in ["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"] {
            assert_eq!(parse_ownership_controls(ownership_controls_xml(v).as_bytes()), Ok(v));
        }
        for bad in [
            "<OwnershipControls><Rule><ObjectOwnership>Mine</ObjectOwnership></Rule>\
             </OwnershipControls>",
            "<OwnershipControls/>",
            "<OwnershipControls><Rule/></OwnershipControls>",
            "<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule>\
             <Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>",
        ] {
            let err = parse_ownership_controls(bad.as_bytes()).unwrap_err();
            assert_eq!(err.code, ErrorCode::MalformedXML, "{bad}");
        }
    }
}
