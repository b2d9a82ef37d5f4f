//! The POST Object `multipart/form-data` parser, fed in pieces of fuzzer-chosen size.
//!
//! First byte: the piece size. The rest is the body, with boundary `B0undary`. The events
//! (file data coalesced) and the outcome must not depend on how the body is split, the
//! file bytes returned must be counted exactly, and nothing may panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use s3gate_protocol::form::{FormError, FormEvent, FormLimits, FormParser};

fn run(body: &[u8], piece: usize) -> Result<Vec<FormEvent>, FormError> {
    let limits = FormLimits {
        max_part_header_bytes: 256,
        max_fields: 8,
        max_field_bytes: 256,
        max_pre_file_bytes: 2048,
    };
    let mut p = FormParser::new("B0undary", limits)?;
    let mut events: Vec<FormEvent> = Vec::new();
    for part in body.chunks(piece.max(1)) {
        let mut input = Bytes::copy_from_slice(part);
        while let Some(ev) = p.parse(&mut input)? {
            match (&ev, events.last_mut()) {
                (FormEvent::FileData(d), _) if d.is_empty() => panic!("empty file data event"),
                (FormEvent::FileData(d), Some(FormEvent::FileData(last))) => {
                    *last = Bytes::from([last.as_ref(), d.as_ref()].concat());
                }
                _ => events.push(ev),
            }
        }
        assert!(input.is_empty(), "parse returned None with input left");
    }
    let counted: usize =
        events.iter().map(|e| if let FormEvent::FileData(d) = e { d.len() } else { 0 }).sum();
    assert_eq!(p.file_bytes(), counted as u64);
    p.finish()?;
    Ok(events)
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, body)) = data.split_first() else { return };
    let whole = run(body, body.len().max(1));
    let split = run(body, usize::from(piece) % 64 + 1);
    assert_eq!(whole, split, "the split changed the outcome");
});
