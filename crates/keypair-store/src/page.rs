//! Keyset (cursor) pagination, newest first.
//!
//! Items are ordered by `(created_at DESC, id DESC)`; a cursor names the last item of
//! a page, and the next page holds the items strictly after it in that order. Items
//! inserted while a client pages through a listing are newer than every cursor, so
//! they never shift, repeat or hide the items that were already there.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::error::{StoreError, StoreResult};

/// Items per page when the caller gives no limit.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
/// The largest page a caller may ask for.
pub const MAX_PAGE_LIMIT: u32 = 200;
const MAX_CURSOR_LEN: usize = 256;

/// Where a listing continues from: the last item of the previous page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub(crate) created_at: i64,
    pub(crate) id: String,
}

impl Cursor {
    pub(crate) fn after(created_at: i64, id: &str) -> Self {
        Cursor {
            created_at,
            id: id.to_owned(),
        }
    }

    /// Decodes an opaque cursor from a client.
    pub fn parse(s: &str) -> StoreResult<Self> {
        let bad = || StoreError::invalid("cursor", "not a cursor returned by this API");
        if s.len() > MAX_CURSOR_LEN {
            return Err(bad());
        }
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (ts, id) = text.split_once(':').ok_or_else(bad)?;
        let created_at = ts.parse::<i64>().map_err(|_| bad())?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(bad());
        }
        Ok(Cursor::after(created_at, id))
    }

    /// The opaque text form handed to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at, self.id))
    }
}

/// A validated page request.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub(crate) limit: u32,
    pub(crate) after: Option<Cursor>,
}

impl PageRequest {
    /// The first page with the default limit.
    pub fn first() -> Self {
        PageRequest {
            limit: DEFAULT_PAGE_LIMIT,
            after: None,
        }
    }

    /// Validates `limit` (1..=200, default 50) and an optional cursor.
    pub fn new(limit: Option<u32>, cursor: Option<&str>) -> StoreResult<Self> {
        let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
        if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
            return Err(StoreError::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE_LIMIT}"),
            ));
        }
        let after = cursor.map(Cursor::parse).transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// Rows to fetch: one more than the limit, to learn whether a next page exists.
    pub(crate) fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Cuts the fetched rows to the page and computes the next cursor.
    pub(crate) fn finish<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> Cursor) -> Page<T> {
        let limit = self.limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| key(r).encode())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// One page of a listing.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Adds the keyset condition for "after this cursor, newest first" to a boxed query.
macro_rules! after_cursor {
    ($query:expr, $page:expr, $created:expr, $id:expr) => {{
        let q = $query;
        match &$page.after {
            Some(c) => q.filter(
                $created
                    .lt(c.created_at)
                    .or($created.eq(c.created_at).and($id.lt(c.id.clone()))),
            ),
            None => q,
        }
        .order(($created.desc(), $id.desc()))
        .limit($page.fetch_limit())
    }};
}
pub(crate) use after_cursor;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let c = Cursor::after(1_700_000_000_000_000, "kg_0123");
        assert_eq!(Cursor::parse(&c.encode()).ok(), Some(c));
    }

    #[test]
    fn rejects_hostile_cursors() {
        for bad in ["", "!!!", "bm9jb2xvbg", &"A".repeat(300), "MTIzOmEnOy0t"] {
            assert!(Cursor::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(201), None).is_err());
        assert!(PageRequest::new(Some(200), None).is_ok());
    }
}
