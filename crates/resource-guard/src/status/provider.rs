//! Where the guard gets status list tokens: the issuer over HTTP(S), or anything else
//! that implements [`StatusListProvider`] (tests, in-process use).

use std::io::Read as _;
use std::time::Duration;

use crate::FetchError;

/// A source of status list tokens (`application/statuslist+jwt`).
pub trait StatusListProvider: Send + Sync + std::fmt::Debug {
    /// Fetches the status list token at `uri`, a URI the guard has checked is
    /// `{issuer}/statuslists/{id}`. `Ok(None)` means the issuer does not know the list
    /// (404). May block; must be bounded in time. The guard verifies what it gets.
    fn fetch(&self, uri: &str) -> Result<Option<String>, FetchError>;
}

/// Status list tokens over HTTP(S): `GET {uri}`, no redirects, every request bounded
/// by a timeout and every body by a size.
#[derive(Debug)]
pub struct HttpStatusLists {
    agent: ureq::Agent,
    max_body_bytes: u64,
}

impl HttpStatusLists {
    /// Requests bounded by `timeout`; bodies over `max_body_bytes` are refused.
    pub fn new(timeout: Duration, max_body_bytes: u64) -> HttpStatusLists {
        HttpStatusLists {
            agent: ureq::AgentBuilder::new()
                .timeout(timeout)
                .redirects(0)
                .build(),
            max_body_bytes,
        }
    }
}

impl StatusListProvider for HttpStatusLists {
    fn fetch(&self, uri: &str) -> Result<Option<String>, FetchError> {
        let resp = match self
            .agent
            .get(uri)
            .set("accept", "application/statuslist+jwt")
            .call()
        {
            Ok(resp) => resp,
            Err(ureq::Error::Status(404, _)) => return Ok(None),
            Err(e) => return Err(FetchError(format!("GET {uri}: {e}"))),
        };
        let mut body = String::new();
        resp.into_reader()
            .take(self.max_body_bytes.saturating_add(1))
            .read_to_string(&mut body)
            .map_err(|e| FetchError(format!("GET {uri}: {e}")))?;
        if body.len() as u64 > self.max_body_bytes {
            return Err(FetchError(format!("GET {uri}: body over the size bound")));
        }
        Ok(Some(body.trim().to_owned()))
    }
}
