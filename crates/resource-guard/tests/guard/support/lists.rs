//! Status lists as keygate serves them (draft-ietf-oauth-status-list), written here
//! from the draft with flate2 and base64, not with the guard's code: 2 bits per entry,
//! entry `i` in bits `2*(i%4)..` of byte `i/4`, zlib, base64url without padding, in a
//! JWT with `typ: statuslist+jwt` signed by one of the issuer's keys.

use super::*;

/// VALID.
pub const VALID: u8 = 0;
/// INVALID (revoked for good).
pub const INVALID: u8 = 1;
/// SUSPENDED.
pub const SUSPENDED: u8 = 2;
/// The reserved value 3.
pub const RESERVED: u8 = 3;

/// Packs `statuses` (one value 0..=3 each) 2 bits per entry, index 0 in the least
/// significant bits of byte 0.
pub fn pack(statuses: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; statuses.len().div_ceil(4)];
    for (i, s) in statuses.iter().enumerate() {
        bytes[i / 4] |= (s & 0b11) << (2 * (i % 4));
    }
    bytes
}

/// `bytes` zlib-compressed (RFC 1950).
pub fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).expect("zlib");
    e.finish().expect("zlib")
}

/// The `lst` of `statuses`: base64url(zlib(packed)).
pub fn encode_list(statuses: &[u8]) -> String {
    b64(zlib(&pack(statuses)))
}

/// The statuses in `lst` (2 bits per entry): the inverse of [`encode_list`], for
/// checking the fixtures themselves.
pub fn decode_list(lst: &str) -> Vec<u8> {
    let compressed = URL_SAFE_NO_PAD.decode(lst).expect("base64url");
    let mut bytes = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        .read_to_end(&mut bytes)
        .expect("zlib");
    bytes
        .iter()
        .flat_map(|b| (0..4).map(move |i| (b >> (2 * i)) & 0b11))
        .collect()
}

/// A zlib stream that inflates to `gib` GiB of zero bytes, made without compressing
/// them: one fully flushed block of 1 MiB of zeros (independent of what precedes it),
/// repeated. It ends without a final block or checksum: a decoder that keeps to its
/// bound never gets there.
pub fn zlib_bomb(gib: usize) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    e.write_all(&zeros).expect("zlib");
    e.flush().expect("flush");
    let first = e.get_ref().clone(); // 2-byte header + one flushed block
    e.write_all(&zeros).expect("zlib");
    e.flush().expect("flush");
    let block = e.get_ref()[first.len()..].to_vec();
    let mut out = first;
    for _ in 1..(gib << 10) {
        out.extend_from_slice(&block);
    }
    out
}

/// One issuer's status lists, rendered as signed JWTs on each fetch (like keygate, so
/// a change shows in the next fetch), over HTTP by [`FakeIssuer`] or in process as a
/// [`StatusListProvider`]. Counts fetches, can fail, be held (fetches wait until
/// released) and be made to serve doctored lists.
#[derive(Debug)]
pub struct ListServer {
    issuer: String,
    state: Mutex<ListState>,
    fetches: AtomicUsize,
    failing: AtomicBool,
    held: Mutex<bool>,
    released: Condvar,
}

#[derive(Debug)]
struct ListState {
    lists: HashMap<String, Vec<u8>>,
    key: TestKey,
    clock: Clock,
    lifetime: i64,
    ttl: u64,
    header_changes: Value,
    claims_changes: Value,
    fetched: Vec<String>,
}

impl ListServer {
    /// Serving [`LIST_ID`] (all [`LIST_ENTRIES`] entries VALID) of `issuer`, signed with
    /// the issuer's Ed25519 key, `iat` from a clock standing at `T0`, valid for 10
    /// days, `ttl` 5 s.
    pub fn new(issuer: &str) -> Arc<ListServer> {
        let server = ListServer {
            issuer: issuer.to_owned(),
            state: Mutex::new(ListState {
                lists: HashMap::new(),
                key: issuer_keys().ed.clone(),
                clock: test_clock().clock(),
                lifetime: 10 * 86_400,
                ttl: 5,
                header_changes: json!({}),
                claims_changes: json!({}),
                fetched: Vec::new(),
            }),
            fetches: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
            held: Mutex::new(false),
            released: Condvar::new(),
        };
        server.open(LIST_ID);
        Arc::new(server)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ListState> {
        self.state.lock().expect("list state")
    }

    /// Opens list `id`, every entry VALID.
    pub fn open(&self, id: &str) {
        self.state()
            .lists
            .insert(id.to_owned(), vec![VALID; LIST_ENTRIES]);
    }

    /// Sets entry `idx` of list `id` to `status`.
    pub fn set(&self, id: &str, idx: usize, status: u8) {
        self.state().lists.get_mut(id).expect("an open list")[idx] = status;
    }

    /// Takes `iat` and `exp` from `clock` from now on.
    pub fn set_clock(&self, clock: Clock) {
        self.state().clock = clock;
    }

    /// Lists expire `secs` after they are served.
    pub fn set_lifetime(&self, secs: i64) {
        self.state().lifetime = secs;
    }

    /// The `ttl` served.
    pub fn ttl(&self) -> u64 {
        self.state().ttl
    }

    /// Signs with `key` from now on.
    pub fn set_key(&self, key: &TestKey) {
        self.state().key = key.clone();
    }

    /// Applies `header` and `claims` changes (`null` removes) to every list served
    /// from now on; `json!({})` for none.
    pub fn doctor(&self, header: Value, claims: Value) {
        let mut s = self.state();
        s.header_changes = header;
        s.claims_changes = claims;
    }

    /// Makes fetches fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Makes fetches wait until [`ListServer::release`] (at most 10 s of real time).
    pub fn hold(&self) {
        *self.held.lock().expect("held") = true;
    }

    /// Lets held fetches go on.
    pub fn release(&self) {
        *self.held.lock().expect("held") = false;
        self.released.notify_all();
    }

    /// Fetches so far (served or not).
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// The URIs fetched so far, in order.
    pub fn fetched(&self) -> Vec<String> {
        self.state().fetched.clone()
    }

    /// Counts a fetch of `uri` and renders the list there, if any.
    pub fn serve(&self, uri: &str) -> Option<String> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.state().fetched.push(uri.to_owned());
        let held = self.held.lock().expect("held");
        let _ = self
            .released
            .wait_timeout_while(held, Duration::from_secs(10), |h| *h)
            .expect("held");
        let id = uri.strip_prefix(&format!("{}/statuslists/", self.issuer))?;
        self.render(id)
    }

    /// List `id` as a signed status list token, if it is open.
    pub fn render(&self, id: &str) -> Option<String> {
        let s = self.state();
        let statuses = s.lists.get(id)?;
        let iat = s.clock.now().unix_timestamp();
        let mut header =
            json!({"alg": format!("{:?}", s.key.alg), "typ": "statuslist+jwt", "kid": s.key.kid});
        let mut claims = json!({
            "iss": self.issuer,
            "sub": list_uri_of(&self.issuer, id),
            "iat": iat,
            "exp": iat + s.lifetime,
            "ttl": s.ttl,
            "status_list": {"bits": 2, "lst": encode_list(statuses)},
        });
        apply(&mut header, &s.header_changes);
        apply(&mut claims, &s.claims_changes);
        Some(sign_raw(&header, &claims, &s.key.encoding, s.key.alg))
    }
}

/// `changes` applied to `target` (`null` removes a member).
fn apply(target: &mut Value, changes: &Value) {
    if let (Some(obj), Some(changes)) = (target.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            if v.is_null() {
                obj.remove(k);
            } else {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
}

impl StatusListProvider for ListServer {
    fn fetch(&self, uri: &str) -> Result<Option<String>, FetchError> {
        if self.failing.load(Ordering::SeqCst) {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            return Err(FetchError("issuer unavailable (test)".into()));
        }
        Ok(self.serve(uri))
    }
}
