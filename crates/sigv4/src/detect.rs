//! Which authentication a request carries, found cheaply before any verifier runs, so the
//! server can pick the verifier and pre-fetch the secret.

use crate::request::{RequestParts, header, query_param};

/// The signature version of an authenticated request, as the `s3:signatureversion`
/// condition key of a bucket policy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureVersion {
    /// Signature Version 2 (HMAC-SHA1): `Authorization: AWS ...`, `AWSAccessKeyId` URLs and
    /// POST forms signed with `signature`.
    V2,
    /// Signature Version 4 (`AWS4-HMAC-SHA256`).
    V4,
}

impl SignatureVersion {
    /// The value of the `s3:signatureversion` policy key: `"AWS"` or `"AWS4-HMAC-SHA256"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2 => "AWS",
            Self::V4 => "AWS4-HMAC-SHA256",
        }
    }
}

/// Where a request carries its authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthScheme {
    /// An `Authorization` header that is not SigV2 (SigV4, or an algorithm the SigV4
    /// verifier refuses): verify with [`verify`](crate::verify) / [`Verifier::verify`](crate::Verifier::verify).
    V4Header,
    /// `X-Amz-Algorithm` / `X-Amz-Credential` / `X-Amz-Signature` in the query.
    V4Query,
    /// `Authorization: AWS AccessKeyId:Signature`: verify with
    /// [`verify_v2`](crate::verify_v2) / [`Verifier::verify_v2`](crate::Verifier::verify_v2).
    V2Header,
    /// `AWSAccessKeyId` / `Signature` (with `Expires`) in the query, as made by
    /// `aws s3 presign` (CLI v1) and `s3cmd signurl`.
    V2Query,
}

impl AuthScheme {
    /// The signature version of the scheme.
    pub fn signature_version(self) -> SignatureVersion {
        match self {
            Self::V4Header | Self::V4Query => SignatureVersion::V4,
            Self::V2Header | Self::V2Query => SignatureVersion::V2,
        }
    }

    /// Whether the authentication is in the query (a presigned URL).
    pub fn is_presigned(self) -> bool {
        matches!(self, Self::V4Query | Self::V2Query)
    }
}

/// Whether an Authorization value is SigV2 (`AWS AccessKeyId:Signature`): the scheme word
/// is exactly `AWS` (SigV4's is `AWS4-HMAC-SHA256`).
pub(crate) fn is_v2_authorization(value: &str) -> bool {
    let v = value.trim_start();
    v == "AWS" || v.strip_prefix("AWS").is_some_and(|rest| rest.starts_with([' ', '\t']))
}

pub(crate) fn has_v4_query(raw_query: Option<&str>) -> bool {
    ["X-Amz-Signature", "X-Amz-Algorithm", "X-Amz-Credential"]
        .iter()
        .any(|n| query_param(raw_query, n).is_some())
}

/// A Signature Version 2 presigned URL: `AWSAccessKeyId` or `Signature` in the query (S3
/// treats either as query authentication and refuses the request if the others are missing).
pub(crate) fn has_v2_query(raw_query: Option<&str>) -> bool {
    ["AWSAccessKeyId", "Signature"].iter().any(|n| query_param(raw_query, n).is_some())
}

/// The authentication `req` carries, `None` when it is anonymous. An Authorization header
/// decides the scheme even when the query carries authentication too (the verifier then
/// answers `MultipleAuthMechanisms`).
pub fn auth_scheme(req: &RequestParts<'_>) -> Option<AuthScheme> {
    if let Some(auth) = header(req, "authorization") {
        return Some(if is_v2_authorization(auth) {
            AuthScheme::V2Header
        } else {
            AuthScheme::V4Header
        });
    }
    if has_v4_query(req.raw_query) {
        Some(AuthScheme::V4Query)
    } else if has_v2_query(req.raw_query) {
        Some(AuthScheme::V2Query)
    } else {
        None
    }
}

/// Whether the request carries any authentication (SigV4 or SigV2, header or query).
/// `false` = anonymous.
pub fn has_auth(req: &RequestParts<'_>) -> bool {
    auth_scheme(req).is_some()
}

/// Cheap: the access key id named by the request (SigV4 `Credential=` or
/// `X-Amz-Credential`, SigV2 `AWS AccessKeyId:` or `AWSAccessKeyId`), if any, for
/// pre-fetching the secret.
pub fn access_key_id(req: &RequestParts<'_>) -> Option<String> {
    match auth_scheme(req)? {
        AuthScheme::V4Header => {
            let auth = header(req, "authorization")?;
            let cred = auth.split([',', ' ']).find_map(|p| p.trim().strip_prefix("Credential="))?;
            cred.split('/').next().map(str::to_owned)
        }
        AuthScheme::V4Query => {
            let cred = query_param(req.raw_query, "X-Amz-Credential")?;
            cred.split('/').next().map(str::to_owned)
        }
        AuthScheme::V2Header => {
            let auth = header(req, "authorization")?;
            let (akid, _) = auth.trim().get(3..)?.trim_start().split_once(':')?;
            Some(akid.trim().to_owned()).filter(|a| !a.is_empty())
        }
        AuthScheme::V2Query => query_param(req.raw_query, "AWSAccessKeyId"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        headers: &[(&str, &str)],
        query: Option<&str>,
        scheme: Option<AuthScheme>,
        ak: Option<&str>,
    ) {
        let req = RequestParts { method: "GET", raw_path: "/b/k", raw_query: query, headers };
        assert_eq!(auth_scheme(&req), scheme, "{headers:?} {query:?}");
        assert_eq!(has_auth(&req), scheme.is_some());
        assert_eq!(access_key_id(&req).as_deref(), ak, "{headers:?} {query:?}");
    }

    #[test]
    fn schemes() {
        use AuthScheme::{V2Header, V2Query, V4Header, V4Query};
        check(&[], None, None, None);
        check(&[("Host", "h")], Some("acl&versionId=1"), None, None);
        let v4 = "AWS4-HMAC-SHA256 Credential=AK4/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";
        check(&[("Authorization", v4)], None, Some(V4Header), Some("AK4"));
        check(&[("authorization", "AWS AK2:c2ln")], None, Some(V2Header), Some("AK2"));
        check(&[("authorization", "  AWS  AK2 :c2ln")], None, Some(V2Header), Some("AK2"));
        check(&[("authorization", "AWS")], None, Some(V2Header), None);
        check(&[("authorization", "AWS HAHAHA")], None, Some(V2Header), None);
        check(&[("authorization", "AWSX AK:s")], None, Some(V4Header), None);
        check(&[("authorization", "Bearer x")], None, Some(V4Header), None);
        check(
            &[],
            Some("X-Amz-Credential=AKQ%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"),
            Some(V4Query),
            Some("AKQ"),
        );
        check(&[], Some("X-Amz-Signature=00"), Some(V4Query), None);
        check(
            &[],
            Some("AWSAccessKeyId=AKV2&Expires=1&Signature=abc%3D"),
            Some(V2Query),
            Some("AKV2"),
        );
        check(&[], Some("Signature=abc"), Some(V2Query), None);
        check(&[], Some("AWSAccessKeyId=AKV2"), Some(V2Query), Some("AKV2"));
        check(&[], Some("Expires=1"), None, None);
        // The header decides; the verifier refuses the mixture.
        check(
            &[("authorization", "AWS AK2:c2ln")],
            Some("X-Amz-Signature=00"),
            Some(V2Header),
            Some("AK2"),
        );
    }

    #[test]
    fn versions() {
        assert_eq!(AuthScheme::V2Query.signature_version().as_str(), "AWS");
        assert_eq!(AuthScheme::V4Header.signature_version().as_str(), "AWS4-HMAC-SHA256");
        assert!(AuthScheme::V2Query.is_presigned() && !AuthScheme::V2Header.is_presigned());
    }
}
