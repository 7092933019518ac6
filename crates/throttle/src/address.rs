//! Who is asking: the client address by one rule, for the throttle, keypairs'
//! allowlists and the logs alike.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;

/// The client's address: the configured trusted proxy header's rightmost entry (over
/// all its lines), or the TCP peer. Only the rightmost entry is the proxy's own word:
/// if it is not an address (with or without a port), the peer counts, never an entry
/// further left, which the client may have written. An IPv4-mapped IPv6 address
/// (`::ffff:192.0.2.7`, as a dual-stack socket reports an IPv4 peer) is the IPv4
/// address it is, so the throttle, the allowlist and the log all see one address for
/// one client. `header`: `None` for the TCP peer (`throttle.client_ip_header` empty).
pub fn client_address(req: &HttpRequest, header: Option<&str>) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let address = match header {
        None => peer,
        Some(name) => req
            .headers()
            .get_all(name)
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|entry| !entry.is_empty())
            .last()
            .and_then(|entry| std::str::from_utf8(entry).ok())
            .and_then(|entry| {
                entry
                    .parse::<IpAddr>()
                    .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
                    .ok()
            })
            .unwrap_or(peer),
    };
    address.to_canonical()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::client_address;
    use actix_web::test::TestRequest;
    use std::net::{IpAddr, SocketAddr};

    #[test]
    fn the_forwarding_header_counts_only_when_configured() {
        let req = TestRequest::default()
            .peer_addr(SocketAddr::from(([10, 0, 0, 1], 5000)))
            .insert_header(("x-forwarded-for", "203.0.113.9, 198.51.100.7"))
            .to_http_request();
        // Not configured: a client-supplied header is ignored.
        assert_eq!(client_address(&req, None), IpAddr::from([10, 0, 0, 1]));
        // Configured: the rightmost entry (added by our proxy) is the client.
        assert_eq!(
            client_address(&req, Some("X-Forwarded-For")),
            IpAddr::from([198, 51, 100, 7])
        );
        // Configured but absent or garbage: the TCP peer.
        let bare = TestRequest::default()
            .peer_addr(SocketAddr::from(([10, 0, 0, 2], 5000)))
            .insert_header(("x-forwarded-for", "not an address"))
            .to_http_request();
        assert_eq!(
            client_address(&bare, Some("X-Forwarded-For")),
            IpAddr::from([10, 0, 0, 2])
        );
    }

    #[test]
    fn a_port_is_dropped_and_a_mapped_address_is_its_ipv4() {
        let req = TestRequest::default()
            .peer_addr("[::ffff:192.0.2.7]:5000".parse::<SocketAddr>().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4, [2001:db8::1]:443"))
            .to_http_request();
        assert_eq!(client_address(&req, None), IpAddr::from([192, 0, 2, 7]));
        assert_eq!(
            client_address(&req, Some("x-forwarded-for")),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }
}
