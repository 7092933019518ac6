//! Address allowlists: the networks a keypair may get tokens from.
//!
//! Entries are IPv4 or IPv6 CIDRs (`10.0.0.0/8`, `2001:db8::/32`), or single addresses
//! (`192.0.2.7`, read as `/32` or `/128`). Host bits are cleared (`10.1.2.3/8` is kept
//! as `10.0.0.0/8`) and duplicates dropped, so what is stored and shown is what is
//! matched. An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`, as a dual-stack socket
//! reports an IPv4 peer) is matched, and stored, as the IPv4 address it is.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// Most entries one allowlist may hold.
pub const MAX_ALLOWED_ADDRESSES: usize = 64;

/// The networks a keypair may be used from; empty means any address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressList(Vec<IpNet>);

/// Why an allowlist was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressListError {
    /// More than [`MAX_ALLOWED_ADDRESSES`] entries.
    #[error("at most {MAX_ALLOWED_ADDRESSES} entries")]
    TooMany,
    /// The entry at this position is not an address or CIDR.
    #[error("must be an IPv4 or IPv6 address or CIDR, such as 192.0.2.0/24 or 2001:db8::/32")]
    BadEntry(usize),
}

impl AddressListError {
    /// The JSON path of the fault within a list called `field`: the list itself, or
    /// the entry (`allowed_addresses[2]`).
    pub fn path(&self, field: &str) -> String {
        match self {
            AddressListError::TooMany => field.to_owned(),
            AddressListError::BadEntry(i) => format!("{field}[{i}]"),
        }
    }
}

impl AddressList {
    /// Any address.
    pub fn any() -> Self {
        AddressList(Vec::new())
    }

    /// Parses administrator input; an error says which entry is at fault.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AddressListError> {
        if entries.len() > MAX_ALLOWED_ADDRESSES {
            return Err(AddressListError::TooMany);
        }
        let mut nets: Vec<IpNet> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let net = parse_entry(entry.as_ref()).ok_or(AddressListError::BadEntry(i))?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(AddressList(nets))
    }

    /// Reads the stored form (entries separated by spaces).
    pub(crate) fn from_db(stored: &str) -> Option<Self> {
        stored
            .split_ascii_whitespace()
            .map(|e| IpNet::from_str(e).ok())
            .collect::<Option<Vec<_>>>()
            .map(AddressList)
    }

    /// The stored form.
    pub(crate) fn to_db(&self) -> String {
        self.to_string()
    }

    /// Whether no address is singled out (any address may be used).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, in canonical form.
    pub fn entries(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().map(ToString::to_string)
    }

    /// Whether `address` may use the keypair: always for an empty list, otherwise when
    /// one entry contains it.
    pub fn permits(&self, address: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }
}

impl fmt::Display for AddressList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

fn parse_entry(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    if entry.contains('/') {
        IpNet::from_str(entry).ok().map(|n| canonical(n).trunc())
    } else {
        IpAddr::from_str(entry)
            .ok()
            .map(|a| IpNet::from(a.to_canonical()))
    }
}

/// `::ffff:a.b.c.d/(96 + n)` is the IPv4 network `a.b.c.d/n`.
fn canonical(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AddressList {
        AddressList::parse(entries).expect("valid list")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn empty_permits_everyone() {
        assert!(AddressList::any().permits(ip("203.0.113.9")));
        assert!(AddressList::any().permits(ip("2001:db8::1")));
    }

    #[test]
    fn cidrs_and_single_addresses_match_what_they_cover() {
        let l = list(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]);
        assert!(l.permits(ip("10.200.3.4")));
        assert!(!l.permits(ip("11.0.0.1")));
        assert!(l.permits(ip("192.0.2.7")));
        assert!(!l.permits(ip("192.0.2.8")));
        assert!(l.permits(ip("2001:db8:ffff::1")));
        assert!(!l.permits(ip("2001:db9::1")));
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let l = list(&["192.0.2.0/24"]);
        assert!(l.permits(ip("::ffff:192.0.2.10")));
        assert!(!l.permits(ip("::ffff:198.51.100.1")));
        let mapped = list(&["::ffff:192.0.2.0/120"]);
        assert_eq!(mapped.to_string(), "192.0.2.0/24");
        assert!(mapped.permits(ip("192.0.2.200")));
    }

    #[test]
    fn host_bits_are_cleared_and_duplicates_dropped() {
        let l = list(&["10.1.2.3/8", "10.0.0.0/8", "2001:db8::1/32"]);
        assert_eq!(l.to_string(), "10.0.0.0/8 2001:db8::/32");
        assert_eq!(AddressList::from_db(&l.to_db()), Some(l));
    }

    #[test]
    fn bad_entries_are_named_by_position() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0",
            "example.com",
            "::1/129",
            "1.2.3.4/8/8",
        ] {
            let err = AddressList::parse(&["192.0.2.0/24", bad]).expect_err(bad);
            assert_eq!(
                err.path("allowed_addresses"),
                "allowed_addresses[1]",
                "{bad:?}"
            );
        }
        // Surrounding blanks are forgiven.
        assert!(AddressList::parse(&[" 10.0.0.0/8 "]).is_ok());
    }

    #[test]
    fn at_most_64_entries() {
        let many: Vec<String> = (0..65).map(|i| format!("10.0.{i}.0/24")).collect();
        let err = AddressList::parse(&many).expect_err("65 entries");
        assert_eq!(err.path("allowed_addresses"), "allowed_addresses");
        assert!(AddressList::parse(&many[..64]).is_ok());
    }
}
