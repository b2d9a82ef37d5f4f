//! Writes: one `PutObject` for a body shorter than a part, an upstream multipart upload for
//! anything longer.

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use http::{Method, StatusCode, header};
use tokio::task::JoinSet;

use super::client::{self, Req, Upstream, encode_query_value};
use super::xml;
use crate::blob::{BlobError, BlobId, BlobInfo, ByteStream};

/// Most parts of one upstream multipart upload (S3's limit).
const MAX_PARTS: u32 = 10_000;

/// Writes `body` as a new blob.
pub(crate) async fn put(up: &Arc<Upstream>, body: ByteStream) -> Result<BlobInfo, BlobError> {
    let id = BlobId::generate()?;
    let key = up.key_of(&id);
    let mut parts = PartReader { body, carry: Bytes::new(), ended: false };
    let first = parts.next_part(up.cfg.part_size).await?;
    let size = if parts.ended {
        let size = first.len() as u64;
        put_object(up, &key, first).await?;
        size
    } else {
        multipart(up, &key, first, &mut parts).await?
    };
    Ok(BlobInfo { id, size })
}

/// Cuts a body into parts.
struct PartReader {
    body: ByteStream,
    carry: Bytes,
    ended: bool,
}

impl PartReader {
    /// The next `size` bytes, or fewer when the body ends (then `ended` is set).
    async fn next_part(&mut self, size: usize) -> Result<Bytes, BlobError> {
        let mut buf = BytesMut::new();
        loop {
            if !self.carry.is_empty() {
                let take = self.carry.len().min(size - buf.len());
                let piece = self.carry.split_to(take);
                if buf.is_empty() && piece.len() == size {
                    return Ok(piece);
                }
                if buf.capacity() == 0 {
                    buf.reserve(size);
                }
                buf.extend_from_slice(&piece);
            }
            if buf.len() == size {
                return Ok(buf.freeze());
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.carry = chunk,
                Some(Err(e)) => return Err(BlobError::Body(e)),
                None => {
                    self.ended = true;
                    return Ok(buf.freeze());
                }
            }
        }
    }
}

async fn put_object(up: &Upstream, key: &str, data: Bytes) -> Result<(), BlobError> {
    let hash = client::sha256_hex(data.clone()).await?;
    let resp = up.send(Req::new(Method::PUT, Some(key)).body(data, hash)).await?;
    if resp.status().is_success() { Ok(()) } else { Err(client::error_of(resp).await) }
}

/// Aborts the upload when dropped before [`Self::disarm`]: a cancelled `put` leaves no parts
/// behind (a crash does; `cleanup_incomplete` finds those).
struct AbortOnDrop {
    up: Arc<Upstream>,
    key: String,
    upload_id: String,
    armed: bool,
}

impl AbortOnDrop {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (up, key, upload_id) = (
            Arc::clone(&self.up),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.upload_id),
        );
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = abort(&up, &key, &upload_id).await {
                    tracing::warn!(key, error = %e, "aborting an interrupted upstream upload failed");
                }
            });
        }
    }
}

async fn multipart(
    up: &Arc<Upstream>,
    key: &str,
    first: Bytes,
    parts: &mut PartReader,
) -> Result<u64, BlobError> {
    let resp = up.send(Req::new(Method::POST, Some(key)).query("uploads".to_owned())).await?;
    if resp.status() != StatusCode::OK {
        return Err(client::error_of(resp).await);
    }
    let created: xml::InitiateMultipartUploadResult = xml::parse(&client::read_small(resp).await?)?;
    let guard = AbortOnDrop {
        up: Arc::clone(up),
        key: key.to_owned(),
        upload_id: created.upload_id.clone(),
        armed: true,
    };
    let upload_id = created.upload_id;
    // Dropping the set (cancellation, error) aborts the part uploads still running.
    let mut running: JoinSet<Result<(u32, String), BlobError>> = JoinSet::new();
    let mut done: Vec<(u32, String)> = Vec::new();
    let mut size = 0u64;
    let mut number = 0u32;
    let mut next = Some(first);
    while let Some(data) = next.take() {
        if data.is_empty() && number > 0 {
            break;
        }
        number += 1;
        if number > MAX_PARTS {
            return Err(BlobError::Backend(
                format!("blob needs more than {MAX_PARTS} upstream parts: raise the part size")
                    .into(),
            ));
        }
        size += data.len() as u64;
        while running.len() >= up.cfg.upload_concurrency {
            done.push(joined(running.join_next().await)?);
        }
        while let Some(r) = running.try_join_next() {
            done.push(joined(Some(r))?);
        }
        running.spawn(upload_part(Arc::clone(up), key.to_owned(), upload_id.clone(), number, data));
        if !parts.ended {
            next = Some(parts.next_part(up.cfg.part_size).await?);
        }
    }
    while let Some(r) = running.join_next().await {
        done.push(joined(Some(r))?);
    }
    done.sort_unstable_by_key(|(n, _)| *n);
    complete(up, key, &upload_id, &done).await?;
    guard.disarm();
    Ok(size)
}

/// A finished part: its number and ETag.
type Part = (u32, String);

fn joined(
    r: Option<Result<Result<Part, BlobError>, tokio::task::JoinError>>,
) -> Result<Part, BlobError> {
    match r {
        Some(Ok(part)) => part,
        Some(Err(e)) => Err(BlobError::Backend(Box::new(e))),
        None => Err(BlobError::Backend("part upload set empty".into())),
    }
}

async fn upload_part(
    up: Arc<Upstream>,
    key: String,
    upload_id: String,
    number: u32,
    data: Bytes,
) -> Result<(u32, String), BlobError> {
    let hash = client::sha256_hex(data.clone()).await?;
    let query = format!("partNumber={number}&uploadId={}", encode_query_value(&upload_id));
    let resp = up.send(Req::new(Method::PUT, Some(&key)).query(query).body(data, hash)).await?;
    if !resp.status().is_success() {
        return Err(client::error_of(resp).await);
    }
    let etag = resp
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| BlobError::Backend("upstream UploadPart answer without ETag".into()))?;
    Ok((number, etag.to_owned()))
}

async fn complete(
    up: &Upstream,
    key: &str,
    upload_id: &str,
    parts: &[(u32, String)],
) -> Result<(), BlobError> {
    let mut body = String::from("<CompleteMultipartUpload>");
    for (n, etag) in parts {
        let _ = write!(
            body,
            "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
            xml::escape(etag)
        );
    }
    body.push_str("</CompleteMultipartUpload>");
    let body = Bytes::from(body);
    let hash = client::sha256_hex(body.clone()).await?;
    let query = format!("uploadId={}", encode_query_value(upload_id));
    let req = Req::new(Method::POST, Some(key))
        .query(query)
        .header("content-type", "application/xml".to_owned())
        .body(body, hash);
    let resp = up.send(req).await?;
    if resp.status() != StatusCode::OK {
        return Err(client::error_of(resp).await);
    }
    // S3 may answer 200 and still fail, with an <Error> body.
    let text = client::read_small(resp).await?;
    match xml::error_code(&String::from_utf8_lossy(&text)) {
        None => Ok(()),
        Some(code) => Err(BlobError::Unavailable(
            format!("upstream CompleteMultipartUpload failed: {code}").into(),
        )),
    }
}

/// Aborts one upstream multipart upload; an upload that is already gone counts as aborted.
pub(crate) async fn abort(up: &Upstream, key: &str, upload_id: &str) -> Result<(), BlobError> {
    let query = format!("uploadId={}", encode_query_value(upload_id));
    let resp = up.send(Req::new(Method::DELETE, Some(key)).query(query)).await?;
    match resp.status() {
        s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
        _ => Err(client::error_of(resp).await),
    }
}

#[cfg(test)]
mod tests {
    use futures_util::stream;

    use super::*;

    async fn cut(chunks: &[usize], part: usize) -> Vec<usize> {
        let body: ByteStream = Box::pin(stream::iter(
            chunks.iter().map(|&n| Ok(Bytes::from(vec![7u8; n]))).collect::<Vec<_>>(),
        ));
        let mut reader = PartReader { body, carry: Bytes::new(), ended: false };
        let mut out = Vec::new();
        while !reader.ended {
            out.push(reader.next_part(part).await.unwrap().len());
        }
        out
    }

    #[tokio::test]
    async fn parts() {
        assert_eq!(cut(&[], 10).await, [0]);
        assert_eq!(cut(&[3, 4], 10).await, [7]);
        assert_eq!(cut(&[10], 10).await, [10, 0]);
        assert_eq!(cut(&[25], 10).await, [10, 10, 5]);
        assert_eq!(cut(&[4, 0, 9, 1, 30, 2], 10).await, [10, 10, 10, 10, 6]);
    }
}
