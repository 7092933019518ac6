//! A status list token's payload (draft-ietf-oauth-status-list §5): its claims, the
//! compressed list, and the status of one entry; and which URIs name a list of our
//! issuer. Pure: no I/O, no clock, no signature (the caller verified it).

use std::io::Read as _;

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::Deserialize;

/// base64url, with or without padding (the draft says without; a padded list decodes
/// to the same bytes, so refusing it would protect nothing).
const LST_BASE64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The status value VALID (draft §7.1); every other value refuses the token.
pub(crate) const VALID: u8 = 0;
/// INVALID: revoked for good.
pub(crate) const INVALID: u8 = 1;
/// SUSPENDED: temporarily not valid.
pub(crate) const SUSPENDED: u8 = 2;

/// Longest list id accepted in a token's `uri`.
const MAX_ID_BYTES: usize = 256;

/// A verified status list, decompressed.
#[derive(Debug)]
pub(crate) struct DecodedList {
    /// Bits per entry: 1, 2, 4 or 8.
    bits: u8,
    /// The entries, `8 / bits` per byte, index 0 in the least significant bits of byte 0.
    bytes: Box<[u8]>,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expiry, seconds since the epoch: after it the list is not used.
    pub exp: i64,
    /// How long the issuer lets it be cached, in seconds, if it says.
    pub ttl: Option<u64>,
}

impl DecodedList {
    /// The status of entry `idx`, or `None` if the list has no such entry.
    pub fn status(&self, idx: u64) -> Option<u8> {
        let per_byte = u64::from(8 / self.bits);
        let byte = usize::try_from(idx / per_byte).ok()?;
        let shift = (idx % per_byte) * u64::from(self.bits);
        let mask = u8::MAX >> (8 - self.bits);
        self.bytes.get(byte).map(|b| (b >> shift) & mask)
    }

    /// How many entries the list has.
    #[cfg(test)]
    pub fn entries(&self) -> u64 {
        (self.bytes.len() as u64) * u64::from(8 / self.bits)
    }
}

/// The claims of a status list token the guard reads (draft §5.1); others are ignored.
#[derive(Deserialize)]
struct ListClaims {
    iss: String,
    sub: String,
    iat: i64,
    /// Required here: the guard keeps a list only until it expires.
    exp: i64,
    #[serde(default)]
    ttl: Option<u64>,
    status_list: RawList,
}

#[derive(Deserialize)]
struct RawList {
    bits: u8,
    lst: String,
}

/// Why a fetched list was not taken. Logged; never shown to clients.
pub(crate) type Refusal = &'static str;

/// Decodes the payload (JSON) of a status list token whose signature and `typ` the
/// caller checked: `iss` must be `issuer`, `sub` exactly `uri` (the URI it was fetched
/// from), and the list at most `max_entries` entries, which is checked while
/// inflating, so a small payload that inflates to gigabytes is refused after at most
/// the bound's bytes.
pub(crate) fn decode(
    payload: &[u8],
    issuer: &str,
    uri: &str,
    max_entries: u64,
) -> Result<DecodedList, Refusal> {
    let claims: ListClaims =
        serde_json::from_slice(payload).map_err(|_| "malformed status list claims")?;
    if claims.iss != issuer {
        return Err("status list from another issuer");
    }
    if claims.sub != uri {
        return Err("status list sub is not its URI");
    }
    let bits = claims.status_list.bits;
    if !matches!(bits, 1 | 2 | 4 | 8) {
        return Err("status list bits not 1, 2, 4 or 8");
    }
    let compressed = LST_BASE64
        .decode(claims.status_list.lst)
        .map_err(|_| "status list lst is not base64url")?;
    let max_bytes = max_entries.saturating_mul(u64::from(bits)).div_ceil(8);
    let bytes = inflate_bounded(&compressed, max_bytes)?;
    if bytes.is_empty() {
        return Err("empty status list");
    }
    Ok(DecodedList {
        bits,
        bytes: bytes.into_boxed_slice(),
        iat: claims.iat,
        exp: claims.exp,
        ttl: claims.ttl,
    })
}

/// Inflates zlib data (RFC 1950), refusing output over `max_bytes` without producing
/// more than one byte past it.
fn inflate_bounded(compressed: &[u8], max_bytes: u64) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| "status list lst is not zlib")?;
    if out.len() as u64 > max_bytes {
        return Err("status list larger than the bound");
    }
    Ok(out)
}

/// The list id in `uri` if it is exactly `prefix` (`{issuer}/statuslists/`) followed
/// by one path segment: not empty, not `.` or `..`, at most 256 bytes of RFC 3986
/// `pchar`s without percent-escapes (so no `/`, `?`, `#`, `%`, space or control
/// character). Anything else names no list of ours.
pub(crate) fn list_id<'u>(uri: &'u str, prefix: &str) -> Option<&'u str> {
    let id = uri.strip_prefix(prefix)?;
    let pchar = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
            )
    };
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id != "."
        && id != ".."
        && id.bytes().all(pchar);
    ok.then_some(id)
}

/// Why a token whose entry is `value` is refused.
pub(crate) fn refusal(value: u8) -> &'static str {
    match value {
        INVALID => "token status INVALID",
        SUSPENDED => "token status SUSPENDED",
        _ => "token status not VALID",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write as _;

    use super::*;

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn payload(bits: u8, bytes: &[u8]) -> Vec<u8> {
        serde_json::json!({
            "iss": "https://i", "sub": "https://i/statuslists/a", "iat": 1, "exp": 2, "ttl": 5,
            "status_list": {"bits": bits, "lst": LST_BASE64.encode(zlib(bytes))},
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn entries_are_read_from_the_least_significant_bits() {
        // The draft's 2-bit example: statuses 1,2,0,3, 0,1,0,1, 1,2,3,3.
        let l = decode(
            &payload(2, &[0xc9, 0x44, 0xf9]),
            "https://i",
            "https://i/statuslists/a",
            1 << 24,
        )
        .unwrap();
        let got: Vec<u8> = (0..12).map(|i| l.status(i).unwrap()).collect();
        assert_eq!(got, [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]);
        assert_eq!(l.entries(), 12);
        assert_eq!(l.status(12), None);
        assert_eq!(l.status(u64::MAX), None);
        assert_eq!((l.iat, l.exp, l.ttl), (1, 2, Some(5)));
        // 1-bit lists (the draft's example: 0xb9 0xa3).
        let l = decode(
            &payload(1, &[0xb9, 0xa3]),
            "https://i",
            "https://i/statuslists/a",
            1 << 24,
        )
        .unwrap();
        let got: Vec<u8> = (0..16).map(|i| l.status(i).unwrap()).collect();
        assert_eq!(got, [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]);
    }

    #[test]
    fn lists_over_the_bound_are_refused_while_inflating() {
        let p = payload(2, &vec![0u8; 1024]);
        let ok = |max| decode(&p, "https://i", "https://i/statuslists/a", max);
        assert!(ok(4096).is_ok());
        assert_eq!(ok(4092).unwrap_err(), "status list larger than the bound");
        assert_eq!(
            inflate_bounded(&zlib(&vec![0u8; 1 << 20]), 100).unwrap_err(),
            "status list larger than the bound"
        );
    }

    #[test]
    fn issuer_sub_bits_and_encoding_are_checked() {
        let p = payload(2, &[0]);
        let d = |iss, sub| decode(&p, iss, sub, 1 << 24).map(|_| ());
        assert_eq!(
            d("https://j", "https://i/statuslists/a"),
            Err("status list from another issuer")
        );
        assert_eq!(
            d("https://i", "https://i/statuslists/b"),
            Err("status list sub is not its URI")
        );
        let p3 = payload(3, &[0]);
        assert!(decode(&p3, "https://i", "https://i/statuslists/a", 8).is_err());
        let bad = br#"{"iss":"https://i","sub":"https://i/statuslists/a","iat":1,"exp":2,"status_list":{"bits":2,"lst":"AAAA"}}"#;
        assert_eq!(
            decode(bad, "https://i", "https://i/statuslists/a", 8).unwrap_err(),
            "status list lst is not zlib"
        );
    }

    #[test]
    fn only_one_plain_segment_after_the_prefix_names_a_list() {
        let p = "https://i/statuslists/";
        assert_eq!(list_id("https://i/statuslists/sl_0af3", p), Some("sl_0af3"));
        assert_eq!(list_id("https://i/statuslists/a.b~c", p), Some("a.b~c"));
        for bad in [
            "https://i/statuslists/",
            "https://i/statuslists/.",
            "https://i/statuslists/..",
            "https://i/statuslists/x/../y",
            "https://i/statuslists/x/y",
            "https://i/statuslists/x?y",
            "https://i/statuslists/x#y",
            "https://i/statuslists/x%2Fy",
            "https://i/statuslists/x y",
            "https://i.evil/statuslists/x",
            "https://i/statuslistsx",
            "http://i/statuslists/x",
            "https://i/other/x",
        ] {
            assert_eq!(list_id(bad, p), None, "{bad}");
        }
        assert_eq!(list_id(&format!("{p}{}", "a".repeat(257)), p), None);
    }
}
